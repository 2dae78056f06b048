package app

import (
	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Stages builds, in order, the stages every partner event passes before it
// is stored as forwardable. The serve command and `dlq replay` both use it,
// so a replay runs today's schemas and policy.
func Stages(cfg *config.Config) ([]bridge.Stage, error) {
	return validationStages(cfg)
}

// Normalizer builds the function that turns a stored event into what the
// ERP receives.
func Normalizer(cfg *config.Config) (bridge.Normalizer, error) {
	return cloudEventsNormalizer(cfg)
}
