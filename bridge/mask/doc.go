// Package mask removes or disguises sensitive values in JSON events
// according to a partner's policy: field rules by path (redact, last4,
// keep_last, hash, drop) and free-text detectors (IBAN, card number,
// email) over every other string value.
//
// Policy.Apply masks a decoded document and is the reference: it defines
// what a masked event is. The bridge masks the other way, in the event's
// own text (AppendMasked): one walk along the tape the validation stage
// read keeps the path of every value in view, replaces the masked values'
// spans, cuts dropped members and elements out with their commas, runs the
// detectors over the remaining strings and copies everything else in bulk.
// Writing the whole document back from a tree was most of masking's cost,
// and splicing keeps the partner's member order and spacing. Where a rule
// needs the text of a whole object or array (hash or keep_last on one), or
// where Apply's result would differ (an array index after a drop by index
// shifts the elements), the splicer gives up and Apply masks the document
// built from the same tape. Either way the result is Apply's document
// (FuzzSpliceMatchesApply, FuzzAppendMaskedMatchesApply), so which way an
// event took never shows in what the ERP reads.
//
// Detectors verify what they find (mod 97 for IBANs, Luhn for cards) and
// skip eight bytes at a time to where a match could start (a digit for a
// card, a capital for an IBAN).
package mask
