package replication

import (
	"context"
	"fmt"

	"github.com/powersync-go/powersync/internal/storage"
)

// pipeline overlaps reading the source and evaluating sync rules (the
// source's goroutine) with writing storage (the pipeline's goroutine).
// Writes are handed over in groups and applied in order; commit waits
// until everything handed over was applied, then commits on the caller's
// goroutine while the pipeline goroutine is idle, so the batch is never
// used by two goroutines at once.
type pipeline struct {
	batch storage.Batch
	ops   chan []write
	done  chan struct{}
	cur   []write
	// err is the first write error; owned by the pipeline goroutine until
	// a flush hands it over.
	err error
}

// write is one storage write, or a flush marker (reply set).
type write struct {
	kind  uint8
	u     storage.RowUpdate
	reply chan error
}

const (
	writeSave uint8 = iota
	writeDelete
	writeTruncate
	writeFlush
)

// groupSize is how many writes are handed over at once.
const groupSize = 256

func newPipeline(ctx context.Context, b storage.Batch) *pipeline {
	p := &pipeline{batch: b, ops: make(chan []write, 8), done: make(chan struct{})}
	go p.run(ctx)
	return p
}

func (p *pipeline) run(ctx context.Context) {
	defer close(p.done)
	for group := range p.ops {
		for _, w := range group {
			if w.kind == writeFlush {
				w.reply <- p.err
				continue
			}
			if p.err != nil {
				continue
			}
			p.err = p.apply(ctx, w)
		}
	}
}

func (p *pipeline) apply(ctx context.Context, w write) error {
	switch w.kind {
	case writeSave:
		if err := p.batch.Save(ctx, w.u); err != nil {
			return fmt.Errorf("save row of %s: %w", w.u.Table, err)
		}
	case writeDelete:
		if err := p.batch.Delete(ctx, w.u.Table, w.u.Key); err != nil {
			return fmt.Errorf("delete row of %s: %w", w.u.Table, err)
		}
	case writeTruncate:
		if err := p.batch.Truncate(ctx, w.u.Table); err != nil {
			return fmt.Errorf("truncate %s: %w", w.u.Table, err)
		}
	}
	return nil
}

// add queues one write.
func (p *pipeline) add(ctx context.Context, w write) error {
	p.cur = append(p.cur, w)
	if len(p.cur) >= groupSize {
		return p.send(ctx)
	}
	return nil
}

func (p *pipeline) send(ctx context.Context) error {
	if len(p.cur) == 0 {
		return nil
	}
	select {
	case p.ops <- p.cur:
		p.cur = make([]write, 0, groupSize)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush waits until every queued write was applied and returns the first
// write error.
func (p *pipeline) flush(ctx context.Context) error {
	reply := make(chan error, 1)
	p.cur = append(p.cur, write{kind: writeFlush, reply: reply})
	if err := p.send(ctx); err != nil {
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commit applies everything queued and commits the batch.
func (p *pipeline) commit(ctx context.Context, opts storage.CommitOptions) (storage.Checkpoint, error) {
	if err := p.flush(ctx); err != nil {
		return storage.Checkpoint{}, err
	}
	return p.batch.Commit(ctx, opts)
}

// close stops the pipeline goroutine; queued writes not yet committed are
// discarded with the batch.
func (p *pipeline) close() {
	close(p.ops)
	<-p.done
}
