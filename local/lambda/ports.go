package lambda

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
)

// ports are the loopback ports handed to the RIE processes of this program
// that may still be in use. The kernel gives a port that was just closed to
// the next caller that asks for a free one, so two environments starting at
// once would get each other's ports: one RIE fails to bind, and its start
// check sees the other's listener. Ports are a resource of the whole program,
// hence one registry for every Manager.
var ports = portRegistry{inUse: map[int]struct{}{}}

type portRegistry struct {
	mu    sync.Mutex
	inUse map[int]struct{}
}

// reserve returns n loopback addresses that are free and not reserved; they
// stay reserved until release.
func (r *portRegistry) reserve(ctx context.Context, n int) ([]string, []int, error) {
	var lc net.ListenConfig
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	var addrs []string
	var got []int
	for len(got) < n {
		if len(held) >= n+64 {
			r.releaseLocked(got)
			return nil, nil, errors.New("no free loopback port that is not in use by another environment")
		}
		l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			r.releaseLocked(got)
			return nil, nil, err // the caller says what the ports are for
		}
		held = append(held, l) // kept open meanwhile, so the kernel offers another
		port := l.Addr().(*net.TCPAddr).Port
		if _, taken := r.inUse[port]; taken {
			continue
		}
		r.inUse[port] = struct{}{}
		got = append(got, port)
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	return addrs, got, nil
}

// release makes ports available again.
func (r *portRegistry) release(ports []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked(ports)
}

func (r *portRegistry) releaseLocked(ports []int) {
	for _, p := range ports {
		delete(r.inUse, p)
	}
}
