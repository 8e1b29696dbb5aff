/* SPDX-License-Identifier: MIT */
/*
 * Realistic demo incidents for `incidentd demo` and `make run` (issue 2): 1-5 alerts each, drawn
 * from the sources, categories, device fields and entity kinds of the reference §3. The output
 * is deterministic for a seed and an incident id, and independent of the wall clock.
 */
#ifndef DEMO_H
#define DEMO_H

#include "common.h"
#include <jansson.h>

/* Times of generated incidents lie in the 90 days before this instant (ticks, ts.h):
 * 2026-11-01T00:00:00Z. */
#define DEMO_EPOCH_TICKS 17934912000000000LL

/*
 * Returns a new reference to incident `incident_id` (>= 1) of the demo set for `seed`, shaped
 * exactly as the real service returns it in a list (CONTRACT §2 key order, every documented
 * alert and device key present, entities in the 2023+ shape that omits nulls). A small share
 * are Resolved (with a valid classification/determination pair), InProgress and assigned, tagged,
 * commented, or Redirected stubs pointing at a lower id. Caller releases with json_decref.
 */
json_t *demo_incident(uint64_t seed, int64_t incident_id);

#endif
