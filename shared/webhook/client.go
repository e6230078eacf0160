package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redub/redub/shared/apperr"
)

// Limits of one delivery attempt.
const (
	// Timeout bounds one attempt, connection to last byte read.
	Timeout = 10 * time.Second
	// MaxResponseBytes is how much of an answer is read; the rest is dropped.
	MaxResponseBytes = 64 << 10
	maxURLLen        = 2048
)

// Resolver looks up a host's addresses (net.DefaultResolver; tests inject
// their own).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy says which endpoints may be called.
type Policy struct {
	// Development allows http://127.0.0.1 (STAGE=development): a receiver on
	// the developer's machine. Every other stage reaches public https only.
	Development bool
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
}

func (p Policy) resolver() Resolver {
	if p.Resolver == nil {
		return net.DefaultResolver
	}
	return p.Resolver
}

// ErrRefused is wrapped by every refusal of an endpoint's address.
var ErrRefused = errors.New("refused webhook endpoint")

// devLoopback is the one address development may call over plain http.
var devLoopback = netip.MustParseAddr("127.0.0.1")

// blocked are the ranges that are not the public internet: this host, our
// network, the cloud's metadata service, and addresses with special meaning.
var blocked = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// addrProblem says why addr may not be called, or returns "".
func (p Policy) addrProblem(addr netip.Addr, scheme string) string {
	addr = addr.Unmap()
	if p.Development && scheme == "http" && addr == devLoopback {
		return ""
	}
	for _, b := range blocked {
		if b.Contains(addr) {
			switch {
			case addr.IsLoopback():
				return fmt.Sprintf("%s is a loopback address", addr)
			case addr.IsLinkLocalUnicast():
				return fmt.Sprintf("%s is a link-local address (such as the cloud metadata service)", addr)
			case addr.IsPrivate():
				return fmt.Sprintf("%s is a private address", addr)
			}
			return fmt.Sprintf("%s is not a public internet address", addr)
		}
	}
	return ""
}

// CheckURL validates an endpoint URL before it is stored: https (or, in
// development, http://127.0.0.1), no credentials or fragment, and a host
// whose every address is public. Problems are apperr.Invalid errors on the
// field "url" that wrap ErrRefused when an address is the cause.
func (p Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := p.parse(raw)
	if err != nil {
		return nil, err
	}
	if _, err := p.resolve(ctx, u.Scheme, u.Hostname()); err != nil {
		return nil, urlError(err)
	}
	return u, nil
}

func urlError(err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	e := apperr.InvalidField("url", "url %s", err.Error())
	e.Err = err
	return e
}

func (p Policy) parse(raw string) (*url.URL, error) {
	if len(raw) > maxURLLen {
		return nil, apperr.InvalidField("url", "url is longer than %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || !u.IsAbs():
		return nil, apperr.InvalidField("url", "url must be an absolute https URL such as https://example.com/hooks/redub")
	case u.User != nil:
		return nil, apperr.InvalidField("url", "url must not contain a user name or password")
	case u.Fragment != "":
		return nil, apperr.InvalidField("url", "url must not contain a fragment (#...)")
	case u.Scheme == "https":
	case u.Scheme == "http" && p.Development && u.Hostname() == devLoopback.String():
	case u.Scheme == "http" && p.Development:
		return nil, urlError(fmt.Errorf("must use https; plain http is allowed only to http://127.0.0.1 in development: %w", ErrRefused))
	default:
		return nil, urlError(fmt.Errorf("must use https: %w", ErrRefused))
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, apperr.InvalidField("url", "url has an invalid port")
		}
	}
	return u, nil
}

// resolve returns the addresses of host, refusing the host when any of them
// may not be called: a name with one private address among public ones is
// refused too, since the dialer cannot know which one a later lookup picks.
func (p Policy) resolve(ctx context.Context, scheme, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(host, ".")
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			return nil, fmt.Errorf("host %s is this machine: %w", host, ErrRefused)
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = p.resolver().LookupNetIP(lctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return nil, fmt.Errorf("host %s does not resolve", host)
		}
	}
	for _, a := range addrs {
		if why := p.addrProblem(a, scheme); why != "" {
			return nil, fmt.Errorf("host %s: %s: %w", host, why, ErrRefused)
		}
	}
	return addrs, nil
}

// Client posts deliveries under a Policy.
type Client struct {
	policy Policy
	http   *http.Client
}

// NewClient returns a Client whose every connection goes to an address
// checked by policy: the transport's dialer resolves the host itself and
// dials the checked address. No proxy, no redirects, HTTP keep-alives off
// (each endpoint gets one request at a time).
func NewClient(policy Policy) *Client {
	c := &Client{policy: policy}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		Proxy:                  nil,
		DisableKeepAlives:      true,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			scheme, _ := ctx.Value(schemeKey{}).(string)
			addrs, err := policy.resolve(ctx, scheme, host)
			if err != nil {
				return nil, err
			}
			var lastErr error
			for _, a := range addrs {
				conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
				if err == nil {
					return conn, nil
				}
				lastErr = err
			}
			return nil, lastErr
		},
	}
	c.http = &http.Client{
		Transport: transport,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// schemeKey carries the request's scheme to the dialer, which sees only
// host:port (the loopback exception is for http alone).
type schemeKey struct{}

// Result is what an endpoint answered to one attempt.
type Result struct {
	Status int    // 0 when no answer came
	Body   string // the start of the answer, for the delivery log
}

// Post sends one signed delivery. It returns the answer; err is non-nil
// when the attempt failed: no answer, a refused address, or a status outside
// 2xx (a redirect is a failure: it is not followed).
func (c *Client) Post(ctx context.Context, rawURL, secret, id string, at time.Time, body []byte) (Result, error) {
	u, err := c.policy.parse(rawURL)
	if err != nil {
		return Result{}, err
	}
	sig, err := Signature(secret, id, at, body)
	if err != nil {
		return Result{}, err
	}
	ctx = context.WithValue(ctx, schemeKey{}, u.Scheme)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "redub-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	res, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return Result{}, fmt.Errorf("%w", unwrapRefusal(err))
		}
		return Result{}, fmt.Errorf("post to endpoint: %w", err)
	}
	defer res.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxResponseBytes)) // a little more, so a short tail does not reset the connection
	r := Result{Status: res.StatusCode, Body: truncate(string(head), 512)}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return r, fmt.Errorf("endpoint answered %d", res.StatusCode)
	}
	return r, nil
}

// unwrapRefusal strips the url.Error's "Post <url>:" so the reason reads as
// the address problem.
func unwrapRefusal(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var oe *net.OpError
		if errors.As(ue.Err, &oe) {
			return oe.Err
		}
		return ue.Err
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
