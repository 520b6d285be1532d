/* graph.c — the logical job graph (see runtime.h). */
#include "runtime/runtime.h"

#include "connectors/connector.h"

#include <stdio.h>
#include <string.h>

void sp_graph_init(sp_graph_t *g)
{
    memset(g, 0, sizeof *g);
}

void sp_graph_fini(sp_graph_t *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        sp_node_t *n = g->nodes[i];
        if (n->source) spate_source_destroy(n->source);
        if (n->vt && n->vt->destroy_spec) n->vt->destroy_spec(n->spec);
        spate_schema_release(n->out_schema);
        for (int k = 0; k <= SP_MAX_SIDE_OUTPUTS; k++) spate_schema_release(n->side_schema[k]);
        free(n->name);
        free(n->uid);
        free(n);
    }
    free(g->nodes);
    free(g->edges);
    memset(g, 0, sizeof *g);
}

sp_node_t *sp_graph_add_node(sp_graph_t *g, const char *name)
{
    if (g->nnodes == g->cap_nodes) {
        g->cap_nodes = g->cap_nodes ? 2 * g->cap_nodes : 16;
        g->nodes = sp_xrealloc(g->nodes, sizeof *g->nodes * (size_t)g->cap_nodes);
    }
    sp_node_t *n = sp_xcalloc(1, sizeof *n);
    n->id = g->nnodes;
    n->name = sp_xstrdup(name && *name ? name : "operator");
    g->nodes[g->nnodes++] = n;
    return n;
}

sp_edge_t *sp_graph_add_edge(sp_graph_t *g, int from, int to, int input)
{
    if (g->nedges == g->cap_edges) {
        g->cap_edges = g->cap_edges ? 2 * g->cap_edges : 16;
        g->edges = sp_xrealloc(g->edges, sizeof *g->edges * (size_t)g->cap_edges);
    }
    sp_edge_t *e = &g->edges[g->nedges++];
    memset(e, 0, sizeof *e);
    e->from = from;
    e->to = to;
    e->input = input;
    return e;
}

const char *sp_part_name(sp_part_kind_t k)
{
    switch (k) {
    case SP_PART_DEFAULT: return "DEFAULT";
    case SP_PART_FORWARD: return "FORWARD";
    case SP_PART_REBALANCE: return "REBALANCE";
    case SP_PART_RESCALE: return "RESCALE";
    case SP_PART_HASH: return "HASH";
    case SP_PART_BROADCAST: return "BROADCAST";
    case SP_PART_CUSTOM: return "CUSTOM";
    }
    return "?";
}

size_t sp_graph_describe(const sp_graph_t *g, int default_parallelism, char *buf, size_t cap)
{
    size_t n = 0;
#define OUT(...)                                                                                             \
    do {                                                                                                     \
        int k_ = snprintf(n < cap ? buf + n : NULL, n < cap ? cap - n : 0, __VA_ARGS__);                     \
        if (k_ > 0) n += (size_t)k_;                                                                         \
    } while (0)
    if (cap) buf[0] = '\0';
    for (int i = 0; i < g->nnodes; i++) {
        const sp_node_t *nd = g->nodes[i];
        int p = nd->parallelism ? nd->parallelism : default_parallelism;
        if (nd->max_parallelism == 1) p = 1;
        OUT("%d %s uid=%s kind=%s parallelism=%d\n", nd->id, nd->name, nd->uid,
            nd->source ? nd->source->vt->kind : nd->vt->kind, p);
    }
    for (int i = 0; i < g->nedges; i++) {
        const sp_edge_t *e = &g->edges[i];
        OUT("%d -> %d.%d %s\n", e->from, e->to, e->input, sp_part_name(e->part));
    }
#undef OUT
    return n;
}
