package lambda

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts RIE in a process group of its own (so that killing the
// group gets it all) and has the kernel kill it when we die.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childrenOf returns the live children of pid, found through /proc.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The state and ppid follow the parenthesised name, which may hold ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(stat[i+1:])
		if len(fields) < 2 || fields[0][0] == 'Z' {
			continue
		}
		if ppid, err := strconv.Atoi(string(fields[1])); err == nil && ppid == pid {
			kids = append(kids, n)
		}
	}
	return kids
}

// pidAlive reports whether pid is a live process; a zombie is not.
func pidAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

// listening reports whether the process itself listens on all its ports.
// Merely connecting is not proof: when another program took one of the ports
// between our picking and RIE's binding, RIE fails (and exits) while the
// other program accepts the connection.
func (p *process) listening(context.Context) bool {
	return listensOn(p.pid, p.ports)
}

// listensOn reports whether pid holds listening TCP sockets on all of ports,
// matching the socket inodes of its file descriptors against the kernel's
// socket table.
func listensOn(pid int, ports []int) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	table, err := os.ReadFile(dir + "/net/tcp")
	if err != nil {
		return false
	}
	found := map[int]bool{}
	// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		if _, hexPort, ok := strings.Cut(f[1], ":"); ok {
			if port, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
				found[int(port)] = true
			}
		}
	}
	for _, port := range ports {
		if !found[port] {
			return false
		}
	}
	return true
}
