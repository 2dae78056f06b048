// Package validate routes a partner event to its JSON Schema and checks it:
// size limit, JSON syntax and intake limits, the identity rule, event type,
// the partner's allowed types and the schema, each failure with a stable
// reason code. Stage runs those checks and the partner's masking on one
// bounded reading of the payload (a jsontext.Tape).
//
// santhosh-tekuri/jsonschema/v5 is the validator of record. Building its
// error tree costs a map and several strings per value visited, so each
// compiled schema also gets a fast path: a second reading of the same
// schema for the keywords event schemas use (types, const and enum of
// scalars, format, required, properties, patternProperties,
// additionalProperties, items and prefixItems, lengths and counts, pattern,
// numeric bounds, $ref, allOf, anyOf). It walks the tape, allocates nothing
// and only ever answers "certainly valid"; anything else, and every error
// report, comes from the library on the document built from the same tape.
// So the fast path can make an event cheaper but never lets through what
// the library rejects; a schema with any other keyword has no fast path.
// FuzzFastPath and FuzzFastPathGeneratedSchemas check that agreement on
// the shipped schemas and on generated ones, FuzzStageWaysAgree the whole
// stage against the reference way (encoding/json, the library, mask.Apply).
//
// Anchored ASCII patterns run as deterministic automata built when the
// schema is compiled, one table lookup per byte with the table indexed by
// byte class (FuzzPatternDFAMatchesRegexp); date, date-time and email have
// quick checks for their common forms, each a strict subset of the
// library's checker (FuzzQuickFormats).
//
// Stages run in each partner's intake goroutine, so partners are
// validated in parallel on all cores.
package validate
