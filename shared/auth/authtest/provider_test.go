package authtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/auth/authtest"
)

// client is what a relying party of p would use.
func client(t *testing.T, p *authtest.Provider, secret string) (context.Context, oauth2.Config, *oidc.Provider) {
	t.Helper()
	var opts auth.Options
	p.Configure(&opts)
	ctx := oidc.ClientContext(t.Context(), opts.HTTPClient)
	op, err := oidc.NewProvider(ctx, p.URL)
	require.NoError(t, err)
	ep := op.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return ctx, oauth2.Config{
		ClientID: p.ClientID, ClientSecret: secret, Endpoint: ep,
		RedirectURL: "https://app.example/callback", Scopes: []string{"openid", "email"},
	}, op
}

func code(t *testing.T, p *authtest.Provider, cfg oauth2.Config, verifier string) string {
	t.Helper()
	back, err := p.Authorize(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1")), authtest.Alice())
	require.NoError(t, err)
	require.Equal(t, "st", back.Query().Get("state"))
	require.Equal(t, "app.example", back.Host)
	return back.Query().Get("code")
}

func retrieveError(t *testing.T, err error) string {
	t.Helper()
	re, ok := errors.AsType[*oauth2.RetrieveError](err)
	require.True(t, ok, "want *oauth2.RetrieveError, got %T: %v", err, err)
	return re.ErrorCode
}

func TestProviderTokenEndpoint(t *testing.T) {
	t.Parallel()
	p := authtest.NewProvider(t)
	ctx, cfg, op := client(t, p, p.ClientSecret)
	verifier := oauth2.GenerateVerifier()

	// The right exchange gives an ID token go-oidc accepts, once.
	c := code(t, p, cfg, verifier)
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: p.ClientID}).Verify(ctx, raw)
	require.NoError(t, err)
	require.Equal(t, authtest.Alice().Subject, idt.Subject)
	require.Equal(t, "n-1", idt.Nonce)
	_, err = cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier))
	require.Equal(t, "invalid_grant", retrieveError(t, err), "codes are single-use")

	// A wrong PKCE verifier, or none, is refused.
	_, err = cfg.Exchange(ctx, code(t, p, cfg, verifier), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	require.Equal(t, "invalid_grant", retrieveError(t, err))
	_, err = cfg.Exchange(ctx, code(t, p, cfg, verifier))
	require.Equal(t, "invalid_grant", retrieveError(t, err))

	// A wrong client secret is refused, in the header or in the body.
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		_, bad, _ := client(t, p, "wrong")
		bad.Endpoint.AuthStyle = style
		_, err = bad.Exchange(ctx, code(t, p, cfg, verifier), oauth2.VerifierOption(verifier))
		require.Equal(t, "invalid_client", retrieveError(t, err))
	}

	// An unknown code.
	_, err = cfg.Exchange(ctx, "made-up", oauth2.VerifierOption(verifier))
	require.Equal(t, "invalid_grant", retrieveError(t, err))
}

func TestProviderAuthorizeChecksTheRequest(t *testing.T) {
	t.Parallel()
	p := authtest.NewProvider(t)
	_, cfg, _ := client(t, p, p.ClientSecret)
	for name, url := range map[string]string{
		"no PKCE":        cfg.AuthCodeURL("st"),
		"plain PKCE":     cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "plain")),
		"no state":       cfg.AuthCodeURL("", oauth2.S256ChallengeOption("v")),
		"other provider": "https://accounts.example.com/authorize?response_type=code",
	} {
		_, err := p.Authorize(url, authtest.Alice())
		require.Error(t, err, name)
	}
	other := cfg
	other.ClientID = "someone-else"
	_, err := p.Authorize(other.AuthCodeURL("st", oauth2.S256ChallengeOption("v")), authtest.Alice())
	require.Error(t, err)
}
