package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/intake"
	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
)

// ruleSet is what an event is judged by: the intake chain and the
// normalizer, built from one configuration and one set of schemas.
type ruleSet struct {
	stages    []bridge.Stage
	normalize bridge.Normalizer
}

// buildRules builds the chain (or takes the given stages) and the
// normalizer from cfg, with the bridge's spans around them.
func (b *Bridge) buildRules(cfg *config.Config, stages []bridge.Stage) (*ruleSet, error) {
	if stages == nil {
		chain, err := NewChain(cfg)
		if err != nil {
			return nil, err
		}
		stages = chain.Intake
	}
	normalize, err := Normalizer(cfg)
	if err != nil {
		return nil, err
	}
	// Recovered inside the spans, so a panicking stage's span still ends.
	stages, normalize = b.decorate(intake.RecoverStages(stages), normalize)
	return &ruleSet{stages: stages, normalize: normalize}, nil
}

// currentRules is the pipeline's one stage: it loads the rule set once per
// event, so each event is judged wholly by the old rules or wholly by the
// new ones, never by a mix.
type currentRules struct{ b *Bridge }

func (c currentRules) Name() string { return "rules" }

func (c currentRules) Process(ctx context.Context, env *bridge.Envelope) error {
	for _, st := range c.b.rules.Load().stages {
		if err := st.Process(ctx, env); err != nil {
			if _, ok := bridge.AsRejection(err); ok {
				return err
			}
			return fmt.Errorf("%s: %w", st.Name(), err)
		}
	}
	return nil
}

func (b *Bridge) normalize(env *bridge.Envelope) (*bridge.ERPMessage, error) {
	return b.rules.Load().normalize(env)
}

// reloadState serializes reloads and owns the drains of removed partners.
type reloadState struct {
	mu   sync.Mutex
	load func() (*config.Config, error)
	// schemas is the digest of the schema files in effect.
	schemas string
	// ctx ends when the bridge shuts down; drains stop with it.
	ctx    context.Context
	cancel context.CancelFunc
	drains sync.WaitGroup
}

func (b *Bridge) startReloads(ctx context.Context) {
	b.reload.mu.Lock()
	defer b.reload.mu.Unlock()
	b.reload.ctx, b.reload.cancel = context.WithCancel(ctx)
}

func (b *Bridge) stopReloads() {
	b.reload.mu.Lock()
	if b.reload.cancel != nil {
		b.reload.cancel()
	}
	b.reload.mu.Unlock()
	b.reload.drains.Wait()
}

// Reload re-reads the configuration and schemas_dir, checks them as
// config check does plus the schema compatibility check, and applies the
// difference to the running bridge. A refused reload changes nothing. who
// names the requester for the audit trail ("signal", or the admin
// request's address and operator).
func (b *Bridge) Reload(ctx context.Context, who string) telemetry.ReloadStatus {
	b.reload.mu.Lock()
	defer b.reload.mu.Unlock()
	st := telemetry.ReloadStatus{At: time.Now().UTC(), Outcome: telemetry.ReloadApplied}
	d, err := b.reloadLocked(ctx)
	st.Changes = d.String()
	if err != nil {
		st.Outcome, st.Error = telemetry.ReloadRefused, err.Error()
		b.log.Error("reload refused; the bridge runs on unchanged", "requested_by", who, "err", err)
	} else {
		b.log.Info("reload applied", "requested_by", who, "changes", st.Changes)
	}
	if b.obs != nil {
		b.obs.metrics.Reloaded(st)
		if b.obs.audit != nil {
			rec := audit.Record{Time: st.At, Action: audit.ActionReload, Partner: audit.BridgePartner,
				MessageID: "reload-" + strconv.FormatInt(st.At.UnixNano(), 10), Outcome: st.Outcome,
				Operator: who, Changes: st.Changes}
			if err != nil {
				rec.Reason = reloadReason(err)
			}
			if werr := b.obs.audit.Write(rec); werr != nil {
				b.log.Error("reload not recorded in the audit trail", "err", werr)
			}
		}
	}
	return st
}

// Reload refusal reasons, the audit records' reason codes.
const (
	reasonInvalidConfig      = "invalid_config"
	reasonIncompatibleSchema = "incompatible_schema"
	reasonNeedsRestart       = "needs_restart"
	reasonNotRunning         = "not_running"
)

type reloadError struct {
	reason string
	err    error
}

func (e *reloadError) Error() string { return e.err.Error() }
func (e *reloadError) Unwrap() error { return e.err }

func reloadReason(err error) string {
	if re, ok := err.(*reloadError); ok {
		return re.reason
	}
	return "failed"
}

func (b *Bridge) reloadLocked(ctx context.Context) (Diff, error) {
	if b.reload.load == nil {
		return Diff{}, &reloadError{reasonNotRunning, fmt.Errorf("this bridge was started without a configuration file to reload")}
	}
	if b.reload.ctx == nil || b.reload.ctx.Err() != nil {
		return Diff{}, &reloadError{reasonNotRunning, fmt.Errorf("the bridge is not running (starting or shutting down)")}
	}
	cfg, err := b.reload.load()
	if err != nil {
		return Diff{}, &reloadError{reasonInvalidConfig, fmt.Errorf("new configuration invalid, nothing changed: %w", flatten(err))}
	}
	if _, err := SchemaCheck(cfg); err != nil {
		return Diff{}, &reloadError{reasonIncompatibleSchema, fmt.Errorf("nothing changed: %w", err)}
	}
	digest, err := schemasDigest(cfg)
	if err != nil {
		return Diff{}, &reloadError{reasonInvalidConfig, fmt.Errorf("nothing changed: %w", err)}
	}
	old := b.live.Load()
	d := CompareConfigs(old, cfg, digest != b.reload.schemas)
	if len(d.Restart) > 0 {
		return d, &reloadError{reasonNeedsRestart, fmt.Errorf("%s cannot change while the bridge runs; restart it to apply them (nothing changed)", strings.Join(d.Restart, ", "))}
	}
	if d.Empty() {
		return d, nil
	}
	for _, name := range d.Added {
		if b.pipeline.Draining(name) {
			return d, &reloadError{reasonInvalidConfig, fmt.Errorf("partner %s is still draining after its removal; reload again once it has stopped (nothing changed)", name)}
		}
	}
	// Build everything before touching anything, so a failure here
	// changes nothing.
	var rules *ruleSet
	if !b.fixedStages {
		if rules, err = b.buildRules(cfg, nil); err != nil {
			return d, &reloadError{reasonInvalidConfig, fmt.Errorf("new configuration invalid, nothing changed: %w", flatten(err))}
		}
	}
	fresh := map[string]bridge.Source{}
	for i, p := range cfg.Partners {
		if !contains(d.Added, p.Name) && !contains(d.Connector, p.Name) {
			continue
		}
		src, err := b.reg.NewSource("partners["+strconv.Itoa(i)+"].inbound", p.Inbound,
			bridge.SourceSpec{Partner: p.Name, Environment: p.Environment, Logger: b.log})
		if err != nil {
			return d, &reloadError{reasonInvalidConfig, fmt.Errorf("new configuration invalid, nothing changed: %w", flatten(err))}
		}
		fresh[p.Name] = src
	}

	// Removed partners stop taking messages before the rules that knew
	// them go; the events they took in are judged by the old rules.
	for _, name := range d.Removed {
		if err := b.pipeline.StopSource(name); err != nil {
			return d, &reloadError{reasonNotRunning, err}
		}
	}
	if rules != nil {
		b.rules.Store(rules)
	}
	b.live.Store(cfg)
	b.reload.schemas = digest
	var errs []error
	for _, p := range cfg.Partners {
		src, ok := fresh[p.Name]
		if !ok {
			continue
		}
		src = b.wrapSource(p, src)
		if contains(d.Added, p.Name) {
			errs = append(errs, b.pipeline.AddPartner(p.Name, src))
		} else {
			errs = append(errs, b.pipeline.ReplaceSource(p.Name, src))
		}
	}
	for _, name := range d.Forwarder {
		errs = append(errs, b.pipeline.RestartForwarder(name))
	}
	for _, name := range d.Removed {
		b.reload.drains.Add(1)
		go func() {
			defer b.reload.drains.Done()
			if err := b.pipeline.RemovePartner(b.reload.ctx, name); err != nil {
				b.log.Warn("removed partner stopped before its events were all forwarded", "partner", name, "err", err)
				return
			}
			b.log.Info("removed partner drained and stopped", "partner", name)
		}()
	}
	if o := b.obs; o != nil && o.poller != nil {
		o.poller.SetTargets(o.targets(cfg))
	}
	for _, err := range errs {
		if err != nil {
			// Rules and partners already applied stay applied.
			return d, fmt.Errorf("reload partly applied: %w", err)
		}
	}
	return d, nil
}

// flatten puts a config.FieldErrors list on one line.
func flatten(err error) error {
	if fe, ok := err.(config.FieldErrors); ok && len(fe) > 1 {
		parts := make([]string, len(fe))
		for i, e := range fe {
			parts[i] = e.Error()
		}
		return fmt.Errorf("%d problems: %s", len(fe), strings.Join(parts, "; "))
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
