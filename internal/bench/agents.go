package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
)

// AgentsConfig configures RunAgents, the child side of the benchmark.
type AgentsConfig struct {
	// Addr is the discovery server's address. Required.
	Addr string
	// Agents is how many agents to run. Default 1000.
	Agents int
	// BackoffMin and BackoffMax are the agents' reconnect backoff. Default 100ms and 2s (the
	// push benchmark); the reconnect benchmark passes the agent's production defaults.
	BackoffMin, BackoffMax time.Duration
	// Logger receives the agents' warnings. Default: discard.
	Logger *slog.Logger
}

func (c AgentsConfig) withDefaults() AgentsConfig {
	if c.Agents <= 0 {
		c.Agents = 1000
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// RunAgents runs cfg.Agents real agents, each with its own gRPC connection and a memory
// sink (SkipDiff: a no-op sink), until ctx is done. They are production agents with no
// benchmark knobs and share nothing: each decodes, hashes and merges every update itself, as
// it would on its own gateway node, so on the benchmark's two cores the child's CPU is a
// thousand agents' worth of real work.
func RunAgents(ctx context.Context, cfg AgentsConfig) error {
	if cfg.Addr == "" {
		return fmt.Errorf("bench agents: no address")
	}
	cfg = cfg.withDefaults()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Agents)
	for i := 0; i < cfg.Agents; i++ {
		a, err := agent.New(agent.Config{
			Addresses: []string{cfg.Addr}, Group: Group, NodeID: fmt.Sprintf("bench-%05d", i),
			SinkName: "memory", Drift: agent.DriftOff, StatusInterval: time.Hour,
			BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax,
			Logger: cfg.Logger,
		}, memory.New(memory.Options{SkipDiff: true}))
		if err != nil {
			return fmt.Errorf("bench agent %d: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
