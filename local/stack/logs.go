package stack

import (
	"bytes"
	"io"
	"sync"
)

// LineWriter merges the log streams of every part into one, writing whole
// lines only, each prefixed by its source ("HealthFunction | ...").
type LineWriter struct {
	mu      sync.Mutex
	out     io.Writer
	observe func(line []byte) // sees every line; nil: none
}

// NewLineWriter returns a LineWriter writing to out.
func NewLineWriter(out io.Writer) *LineWriter { return &LineWriter{out: out} }

// Prefixed returns a writer whose lines carry prefix.
func (l *LineWriter) Prefixed(prefix string) io.Writer {
	return &prefixed{lw: l, prefix: []byte(prefix + " | ")}
}

// Write lets the Lambda manager use the LineWriter directly: it prefixes its lines itself.
func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.observe != nil {
		for line := range bytes.Lines(p) {
			l.observe(line)
		}
	}
	return l.out.Write(p)
}

type prefixed struct {
	lw     *LineWriter
	prefix []byte
	mu     sync.Mutex
	buf    []byte
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := make([]byte, 0, len(p.prefix)+i+1)
		line = append(line, p.prefix...)
		line = append(line, p.buf[:i+1]...)
		if _, err := p.lw.Write(line); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
