package bridge

// Reasons lists every dead-letter reason code, for operators' filters.
func Reasons() []string {
	return []string{
		ReasonMalformed, ReasonTooLarge, ReasonUnknownType, ReasonTypeNotAllowed,
		ReasonSchemaInvalid, ReasonPartnerMismatch, ReasonMaxAttempts,
		ReasonUnhandled, ReasonRedelivered,
	}
}
