package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated is the cause of an ErrUnavailable when fewer replicas
// than Options.WaitReplicas confirmed a write within Options.WaitTimeout.
// The write is on the master and may survive or not: nothing is
// acknowledged, and a retry with the same idempotency key is safe.
var ErrNotReplicated = errors.New("too few replicas confirmed the write")

// Redis replicates asynchronously: a write the master answered can vanish
// when a replica that had not received it is promoted. With WaitReplicas
// set, every pipeline of writes ends with WAIT on the connection that sent
// them, and the store reports success only when enough replicas hold the
// master's stream up to that point. WAIT counts the replication offset of
// the connection's last write, which covers every earlier write to that
// master, whichever connection sent it. It cannot run in a script, so it
// follows the scripts in the same pipeline; in a cluster the calls are
// grouped by the master that serves their keys, one pipeline (and so one
// connection) each.

// pipeGroup is calls that go to one master, with the client to send them.
type pipeGroup struct {
	client redis.Cmdable
	calls  []*call
}

// runWaited is runAll with WAIT: one pipeline per master, run at once. A
// master's failure, or its WAIT's, fails its calls only.
func (s *Store) runWaited(ctx context.Context, calls []*call) {
	groups, err := s.byMaster(ctx, calls)
	if err != nil {
		for _, c := range calls {
			c.err = err
		}
		return
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() {
			err := s.runGroup(ctx, g)
			for _, c := range g.calls {
				if c.err = cmdErr(c.cmd); c.err == nil {
					c.err = err
				}
			}
		})
	}
	wg.Wait()
}

// byMaster groups calls by the master of their first key: in a cluster,
// go-redis would otherwise route a keyless WAIT to any node.
func (s *Store) byMaster(ctx context.Context, calls []*call) ([]*pipeGroup, error) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return []*pipeGroup{{client: s.rdb, calls: calls}}, nil
	}
	index := make(map[string]*pipeGroup)
	var groups []*pipeGroup
	for _, c := range calls {
		node, err := cc.MasterForKey(ctx, c.keys[0])
		if err != nil {
			return nil, err
		}
		addr := node.Options().Addr
		g := index[addr]
		if g == nil {
			g = &pipeGroup{client: node}
			index[addr] = g
			groups = append(groups, g)
		}
		g.calls = append(g.calls, c)
	}
	return groups, nil
}

// runGroup runs one master's calls and WAIT in one pipeline, and again
// with EVAL those that met NOSCRIPT.
func (s *Store) runGroup(ctx context.Context, g *pipeGroup) error {
	pipe := g.client.Pipeline()
	for _, c := range g.calls {
		c.queue(ctx, pipe, false)
	}
	wait := s.waitCmd(ctx, pipe)
	if _, err := pipe.Exec(ctx); err != nil {
		var retry []*call
		for _, c := range g.calls {
			if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
				retry = append(retry, c)
			}
		}
		if len(retry) > 0 {
			pipe = g.client.Pipeline()
			for _, c := range retry {
				c.queue(ctx, pipe, true)
			}
			wait = s.waitCmd(ctx, pipe)
			_, _ = pipe.Exec(ctx)
		}
	}
	return s.checkWait(wait)
}

// waitCmd queues WAIT in pipe (go-redis's Pipeliner has no Wait method).
func (s *Store) waitCmd(ctx context.Context, pipe redis.Pipeliner) *redis.IntCmd {
	cmd := redis.NewIntCmd(ctx, "wait", s.opts.WaitReplicas, s.opts.WaitTimeout.Milliseconds())
	_ = pipe.Process(ctx, cmd)
	return cmd
}

// checkWait turns a WAIT reply below WaitReplicas into ErrNotReplicated.
func (s *Store) checkWait(wait *redis.IntCmd) error {
	n, err := wait.Result()
	if err != nil {
		return fmt.Errorf("WAIT: %w", err)
	}
	if int(n) < s.opts.WaitReplicas {
		s.metrics.Failures.Inc()
		return fmt.Errorf("%w: %d of %d within %v", ErrNotReplicated, n, s.opts.WaitReplicas, s.opts.WaitTimeout)
	}
	return nil
}

// runOne runs one script, with WAIT when WaitReplicas is set.
func (s *Store) runOne(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.opts.WaitReplicas <= 0 {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	c := &call{script: script, keys: keys, args: args}
	s.runWaited(ctx, []*call{c})
	if c.err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(c.err)
		return cmd
	}
	return c.cmd
}
