package lambda

import (
	"bufio"
	"bytes"
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

// ownsListeners reports whether the process itself listens on its ports.
// A connection alone is no proof: when another program took one of the ports
// between our picking it and RIE binding it, RIE fails (and exits) while the
// other program accepts the connection.
func (p *process) ownsListeners() bool {
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
	table, err := os.Open(dir + "/net/tcp")
	if err != nil {
		return false
	}
	defer table.Close()
	want := map[int]bool{}
	for _, port := range ports {
		want[port] = true
	}
	// The kernel lists the listening sockets first, so the scan stops early;
	// the whole table (every connection of the host) can take milliseconds.
	sc := bufio.NewScanner(table)
	sc.Scan() // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
	for len(want) > 0 && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		if _, hexPort, ok := strings.Cut(f[1], ":"); ok {
			if port, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
				delete(want, int(port))
			}
		}
	}
	return len(want) == 0
}
