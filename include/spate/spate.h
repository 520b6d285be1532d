/*
 * spate/spate.h — the one header a Spate job includes.
 */
#ifndef SPATE_SPATE_H
#define SPATE_SPATE_H

#include "common.h"
#include "types.h"
#include "datastream.h"
#include "connectors.h"
#include "eventtime.h"
#include "process.h"
#include "window.h"

#endif
