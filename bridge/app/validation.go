package app

import (
	"os"
	"strconv"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/cloudevents"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/mask"
	"github.com/dmzbridge/dmzbridge/bridge/validate"
)

// loadSchemas compiles schemas_dir when any partner validates; it returns
// nil, nil when none does, so configs without schemas keep working.
func loadSchemas(cfg *config.Config) (*validate.Registry, error) {
	needed := false
	for _, p := range cfg.Partners {
		needed = needed || len(p.AllowedTypes) > 0
	}
	if !needed {
		return nil, nil
	}
	reg, err := validate.LoadDir(cfg.SchemasPath())
	if err != nil {
		var errs config.FieldErrors
		errs.Merge("schemas_dir", err)
		return nil, errs
	}
	return reg, nil
}

// validation is the validation-and-masking stage with what it was built
// from, which the stored-event check of a replay needs too.
type validation struct {
	stage *validate.Stage
	reg   *validate.Registry
	masks map[string]validate.Masker
}

// buildValidation builds the validation-and-masking stage.
func buildValidation(cfg *config.Config) (*validation, error) {
	var errs config.FieldErrors
	reg, err := loadSchemas(cfg)
	errs.Merge("", err)
	masks := map[string]validate.Masker{}
	for i, p := range cfg.Partners {
		if len(p.Masking.Policies) == 0 {
			continue
		}
		pol, err := mask.Compile("partners["+strconv.Itoa(i)+"].masking", p.Masking, os.Getenv)
		if err != nil {
			errs.Merge("", err)
			continue
		}
		if len(p.AllowedTypes) == 0 {
			errs.Add("partners["+strconv.Itoa(i)+"].masking", "masking needs allowed_types: only validated events are masked")
		}
		masks[p.Name] = pol
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	st, err := validate.NewStage(cfg, reg, masks)
	if err != nil {
		return nil, err
	}
	return &validation{stage: st, reg: reg, masks: masks}, nil
}

// cloudEventsNormalizer builds the CloudEvents normalizer with the schema
// ids as dataschema.
func cloudEventsNormalizer(cfg *config.Config) (bridge.Normalizer, error) {
	reg, err := loadSchemas(cfg)
	if err != nil {
		return nil, err
	}
	return cloudevents.Normalizer(cloudevents.Options{DataSchema: func(t string) string {
		if reg == nil {
			return ""
		}
		if s, ok := reg.Lookup(t); ok {
			return s.ID
		}
		return ""
	}}), nil
}
