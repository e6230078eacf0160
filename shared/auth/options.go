package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redub/redub/shared/config"
)

// Options configure Sessions, Google and the dev-login handler. OptionsFrom
// fills them from the config; tests build them by hand.
type Options struct {
	Secret       string           // AUTH_SECRET: keys the session token hashes and signs the sign-in cookie
	AppURL       *url.URL         // AUTH_URL: the app's public URL; the auth routes live under it
	Stage        config.Stage     // only config.Development enables dev-login
	ClientID     string           // GOOGLE_CLIENT_ID; "" leaves Google sign-in unconfigured (503)
	DevLoginCode string           // DEV_LOGIN_CODE: when set (a preview), dev-login requires it as access_code
	MaxAge       time.Duration    // SESSION_MAX_AGE_DAYS: a session's absolute lifetime, however often it is used; default 90 days
	ClientSecret string           // GOOGLE_CLIENT_SECRET
	IssuerURL    string           // GOOGLE_ISSUER_URL; default https://accounts.google.com
	HTTPClient   *http.Client     // calls to the provider; default a client with a 10 s timeout
	Now          func() time.Time // default time.Now; tests move time with it
}

// DefaultSessionMaxAge is a session's absolute lifetime when Options.MaxAge
// is unset.
const DefaultSessionMaxAge = 90 * 24 * time.Hour

// DefaultIssuerURL is Google's OpenID issuer.
const DefaultIssuerURL = "https://accounts.google.com"

// OptionsFrom returns the Options that c describes.
func OptionsFrom(c *config.Config) Options {
	return Options{
		Secret:       c.AuthSecret,
		AppURL:       c.AuthURL,
		Stage:        c.Stage,
		ClientID:     c.GoogleClientID,
		MaxAge:       c.SessionMaxAge,
		DevLoginCode: c.DevLoginCode,
		ClientSecret: c.GoogleClientSecret,
		IssuerURL:    c.GoogleIssuerURL,
	}
}

// normalize checks o and fills its defaults. It fails when the secret is
// empty or AppURL is not an absolute http(s) URL.
func (o Options) normalize() (Options, error) {
	if o.Secret == "" {
		return o, errors.New("auth: Options.Secret (AUTH_SECRET) is empty")
	}
	if o.AppURL == nil || (o.AppURL.Scheme != "http" && o.AppURL.Scheme != "https") || o.AppURL.Host == "" {
		return o, fmt.Errorf("auth: Options.AppURL (AUTH_URL) must be an absolute http(s) URL, not %q", urlString(o.AppURL))
	}
	u := *o.AppURL
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	o.AppURL = &u
	if o.IssuerURL == "" {
		o.IssuerURL = DefaultIssuerURL
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultSessionMaxAge
	}
	return o, nil
}

func (o Options) secure() bool { return o.AppURL.Scheme == "https" }

// appPath returns the path of elems under AppURL, e.g. "/auth/google".
func (o Options) appPath(elems ...string) string {
	return o.AppURL.Path + "/" + strings.Join(elems, "/")
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}

// origin returns u's origin in canonical form: lower-case scheme and host,
// without the scheme's default port. It returns "" for a URL that has none.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" {
		return ""
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

// sameOrigin reports whether the URL raw (an Origin or Referer header) has
// the origin want.
func sameOrigin(raw, want string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	o := origin(u)
	return o != "" && o == want
}
