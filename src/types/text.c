/*
 * text.c — values as text: parsing a field's text into a collector (CSV
 * sources, collection rows) and formatting a row's field (print and file
 * sinks).  Dates are ISO "YYYY-MM-DD"; timestamps "YYYY-MM-DD HH:MM:SS[.fff]"
 * (UTC) or integer milliseconds; decimals plain "[-]digits[.digits]".
 */
#include "types/types.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static bool parse_i64(const char *s, size_t len, int64_t *v)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end) return false;
    *v = x;
    return true;
}

/* Reads 1..maxd decimal digits at s[*i]; false when there are none or more than maxd. */
static bool read_digits(const char *s, size_t len, size_t *i, int maxd, int64_t *v)
{
    int64_t x = 0;
    int n = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (++n > maxd) return false;
        x = x * 10 + (s[(*i)++] - '0');
    }
    *v = x;
    return n > 0;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "[-]Y-M-D" (year up to 9 digits, month and day 1-2 digits, a real calendar day) at s[*i]. */
static bool read_date(const char *s, size_t len, size_t *i, int64_t *days)
{
    static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool neg = *i < len && s[*i] == '-';
    if (neg) (*i)++;
    int64_t y, m, d;
    if (!read_digits(s, len, i, 9, &y) || *i >= len || s[(*i)++] != '-') return false;
    if (!read_digits(s, len, i, 2, &m) || *i >= len || s[(*i)++] != '-') return false;
    if (!read_digits(s, len, i, 2, &d)) return false;
    if (neg) y = -y;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && is_leap(y))) return false;
    *days = days_from_civil(y, (unsigned)m, (unsigned)d);
    return true;
}

static bool parse_date(const char *s, size_t len, int64_t *days)
{
    size_t i = 0;
    if (!read_date(s, len, &i, days) || i != len) return false;
    return *days >= INT32_MIN && *days <= INT32_MAX;
}

/* Integer milliseconds, or "[-]Y-M-D[( |T)H:M:S[.fff]]" in UTC (more than 3 fraction digits are cut). */
static bool parse_timestamp(const char *s, size_t len, int64_t *ms)
{
    if (parse_i64(s, len, ms)) return true;
    size_t i = 0;
    int64_t days, h = 0, mi = 0, sec = 0, frac = 0;
    if (!read_date(s, len, &i, &days)) return false;
    if (i < len) {
        if (s[i] != ' ' && s[i] != 'T') return false;
        i++;
        if (!read_digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':') return false;
        if (!read_digits(s, len, &i, 2, &mi) || i >= len || s[i++] != ':') return false;
        if (!read_digits(s, len, &i, 2, &sec)) return false;
        if (i < len && s[i] == '.') {
            int digits = 0;
            i++;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (digits < 3) frac = frac * 10 + (s[i] - '0');
                digits++;
                i++;
            }
            if (!digits) return false;
            for (; digits < 3; digits++) frac *= 10;
        }
    }
    if (i != len || h > 23 || mi > 59 || sec > 60) return false;
    __int128 t = (__int128)days * 86400000 + ((h * 60 + mi) * 60 + sec) * 1000 + frac;
    if (t < INT64_MIN || t > INT64_MAX) return false;
    *ms = (int64_t)t;
    return true;
}

/* "[-]int[.frac]" scaled to `scale` digits into a 128-bit value (exact, no rounding beyond scale: truncates). */
static bool parse_decimal(const char *s, size_t len, int precision, int scale, spate_decimal_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    unsigned __int128 v = 0;
    int int_digits = 0, frac_digits = 0;
    bool any = false, dot = false;
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '.' && !dot) {
            dot = true;
            continue;
        }
        if (ch < '0' || ch > '9') return false;
        any = true;
        if (dot) {
            if (frac_digits == scale)
                continue; /* extra fraction digits are cut, as a cast to the scale would */
            frac_digits++;
        } else if (v != 0 || ch != '0')
            int_digits++;
        v = v * 10 + (unsigned)(ch - '0');
        if (int_digits > precision - scale) return false;
    }
    if (!any) return false;
    for (; frac_digits < scale; frac_digits++) v *= 10;
    __int128 sv = neg ? -(__int128)v : (__int128)v;
    out->lo = (uint64_t)sv;
    out->hi = (int64_t)(sv >> 64);
    return true;
}

int sp_collector_set_text(spate_collector_t *c, int f, const char *s, size_t len, bool quoted, char *err,
                          size_t errcap)
{
    const sp_field_t *fd = &c->schema->fields[f];
    if (len == 0 && !quoted && !sp_type_is_varlen(fd->type)) {
        spate_out_set_null(c, f);
        return SPATE_OK;
    }
    if (len == 0 && !quoted) {
        spate_out_set_null(c, f);
        return SPATE_OK;
    }
    int64_t v;
    char tmp[64];
    switch (fd->type) {
    case SPATE_TYPE_BOOLEAN:
        if (len == 4 && !strncasecmp(s, "true", 4))
            spate_out_set_boolean(c, f, true);
        else if (len == 5 && !strncasecmp(s, "false", 5))
            spate_out_set_boolean(c, f, false);
        else
            goto bad;
        return SPATE_OK;
    case SPATE_TYPE_INT:
        if (!parse_i64(s, len, &v) || v < INT32_MIN || v > INT32_MAX) goto bad;
        spate_out_set_int(c, f, (int32_t)v);
        return SPATE_OK;
    case SPATE_TYPE_BIGINT:
        if (!parse_i64(s, len, &v)) goto bad;
        spate_out_set_bigint(c, f, v);
        return SPATE_OK;
    case SPATE_TYPE_DOUBLE: {
        if (len >= sizeof tmp) goto bad;
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        char *end;
        errno = 0;
        double d = strtod(tmp, &end);
        if (*end || end == tmp) goto bad;
        spate_out_set_double(c, f, d);
        return SPATE_OK;
    }
    case SPATE_TYPE_DECIMAL: {
        spate_decimal_t d;
        if (!parse_decimal(s, len, fd->precision, fd->scale, &d)) goto bad;
        spate_out_set_decimal(c, f, d);
        return SPATE_OK;
    }
    case SPATE_TYPE_VARCHAR:
    case SPATE_TYPE_BYTES: spate_out_set_string(c, f, s, len); return SPATE_OK;
    case SPATE_TYPE_DATE:
        if (!parse_date(s, len, &v)) goto bad;
        spate_out_set_date(c, f, (int32_t)v);
        return SPATE_OK;
    case SPATE_TYPE_TIMESTAMP:
        if (!parse_timestamp(s, len, &v)) goto bad;
        spate_out_set_timestamp(c, f, v);
        return SPATE_OK;
    }
bad:
    snprintf(err, errcap, "field '%s': cannot read \"%.*s\" as %s", fd->name, (int)SP_MIN(len, 40), s,
             sp_type_name(fd->type));
    return SPATE_EPARSE;
}

static size_t put(char *buf, size_t cap, size_t n, const char *s, size_t len)
{
    if (n < cap) memcpy(buf + n, s, SP_MIN(len, cap - n));
    return n + len;
}

static size_t format_decimal(spate_decimal_t d, int scale, char *out)
{
    __int128 v = (__int128)(((unsigned __int128)(uint64_t)d.hi << 64) | d.lo);
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)0 - (unsigned __int128)v : (unsigned __int128)v;
    char digits[48];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    while (n <= scale) digits[n++] = '0';
    size_t k = 0;
    if (neg) out[k++] = '-';
    for (int i = n - 1; i >= 0; i--) {
        out[k++] = digits[i];
        if (i == scale && scale > 0) out[k++] = '.';
    }
    return k;
}

/*
 * Doubles as Java's Double.toString prints them (so output matches Flink's):
 * the shortest digits that read back as the same value, fixed notation with
 * at least one fraction digit for 1e-3 <= |d| < 1e7 ("2.0", "0.001"),
 * otherwise scientific ("1.0E7", "1.5E-5"); "NaN", "Infinity".
 */
static size_t format_double(double d, char *out, size_t cap)
{
    if (isnan(d)) return (size_t)snprintf(out, cap, "NaN");
    if (isinf(d)) return (size_t)snprintf(out, cap, d < 0 ? "-Infinity" : "Infinity");
    if (d == 0) return (size_t)snprintf(out, cap, signbit(d) ? "-0.0" : "0.0");
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) { /* shortest round-trip digits, as d.ddde±x */
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d) break;
    }
    bool neg = sci[0] == '-';
    char digits[24];
    int nd = 0;
    const char *p = sci + neg;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--; /* 1.50e+00 -> digits "15" */
    char buf[64];
    size_t n = 0;
    if (neg) buf[n++] = '-';
    double a = fabs(d);
    if (a >= 1e-3 && a < 1e7) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++) buf[n++] = i < nd ? digits[i] : '0';
            buf[n++] = '.';
            if (nd > exp + 1)
                for (int i = exp + 1; i < nd; i++) buf[n++] = digits[i];
            else
                buf[n++] = '0';
        } else {
            buf[n++] = '0';
            buf[n++] = '.';
            for (int i = 0; i < -exp - 1; i++) buf[n++] = '0';
            for (int i = 0; i < nd; i++) buf[n++] = digits[i];
        }
    } else {
        buf[n++] = digits[0];
        buf[n++] = '.';
        if (nd > 1)
            for (int i = 1; i < nd; i++) buf[n++] = digits[i];
        else
            buf[n++] = '0';
        n += (size_t)snprintf(buf + n, sizeof buf - n, "E%d", exp);
    }
    buf[n] = '\0';
    return (size_t)snprintf(out, cap, "%s", buf);
}

size_t sp_format_field(const spate_row_t *row, int f, char *buf, size_t cap, char delim, bool csv)
{
    const sp_field_t *fd = &row->batch->schema->fields[f];
    char tmp[64];
    size_t len = 0;
    if (spate_row_is_null(row, f)) return 0;
    switch (fd->type) {
    case SPATE_TYPE_BOOLEAN:
        len = (size_t)snprintf(tmp, sizeof tmp, "%s", spate_row_get_boolean(row, f) ? "true" : "false");
        break;
    case SPATE_TYPE_INT:
        len = (size_t)snprintf(tmp, sizeof tmp, "%" PRId32, spate_row_get_int(row, f));
        break;
    case SPATE_TYPE_BIGINT:
        len = (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, spate_row_get_bigint(row, f));
        break;
    case SPATE_TYPE_DOUBLE: len = format_double(spate_row_get_double(row, f), tmp, sizeof tmp); break;
    case SPATE_TYPE_DECIMAL: len = format_decimal(spate_row_get_decimal(row, f), fd->scale, tmp); break;
    case SPATE_TYPE_DATE: {
        int y;
        unsigned m, d;
        civil_from_days(spate_row_get_date(row, f), &y, &m, &d);
        len = (size_t)snprintf(tmp, sizeof tmp, "%04d-%02u-%02u", y, m, d);
        break;
    }
    case SPATE_TYPE_TIMESTAMP: {
        int64_t ms = spate_row_get_timestamp(row, f);
        int64_t rem = ms % 86400000, days = ms / 86400000; /* floor division, also for INT64_MIN */
        if (rem < 0) {
            rem += 86400000;
            days--;
        }
        int y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);
        len = (size_t)snprintf(tmp, sizeof tmp, "%04d-%02u-%02u %02d:%02d:%02d.%03d", y, m, d,
                               (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
                               (int)(rem % 1000));
        break;
    }
    case SPATE_TYPE_VARCHAR:
    case SPATE_TYPE_BYTES: {
        spate_str_t s = spate_row_get_string(row, f);
        bool quote = csv && (s.len == 0 || memchr(s.ptr, delim, s.len) || memchr(s.ptr, '"', s.len) ||
                             memchr(s.ptr, '\n', s.len) || memchr(s.ptr, '\r', s.len));
        if (!quote) return put(buf, cap, 0, s.ptr, s.len);
        size_t n = put(buf, cap, 0, "\"", 1);
        for (size_t i = 0; i < s.len; i++) {
            if (s.ptr[i] == '"') n = put(buf, cap, n, "\"", 1);
            n = put(buf, cap, n, &s.ptr[i], 1);
        }
        return put(buf, cap, n, "\"", 1);
    }
    }
    return put(buf, cap, 0, tmp, len);
}

size_t spate_row_format(const spate_row_t *row, char *buf, size_t cap)
{
    size_t n = 0;
    int nf = row->batch->schema->nfields;
    for (int f = 0; f < nf; f++) {
        if (f) n = put(buf, cap, n, ",", 1);
        n += sp_format_field(row, f, n < cap ? buf + n : NULL, n < cap ? cap - n : 0, ',', true);
    }
    if (cap) buf[n < cap ? n : cap - 1] = '\0';
    return n;
}
