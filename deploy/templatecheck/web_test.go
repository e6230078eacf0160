package templatecheck_test

import (
	"testing"

	"github.com/redub/redub/deploy/templatecheck"
)

func distribution(tpl *templatecheck.Template) map[string]any {
	return m(tpl.Properties("WebDistribution")["DistributionConfig"])
}

func origin(tpl *templatecheck.Template, id string) map[string]any {
	for _, o := range distribution(tpl)["Origins"].([]any) {
		if m(o)["Id"] == id {
			return m(o)
		}
	}
	return nil
}

func behaviour(tpl *templatecheck.Template, pattern string) map[string]any {
	for _, b := range distribution(tpl)["CacheBehaviors"].([]any) {
		if m(b)["PathPattern"] == pattern {
			return m(b)
		}
	}
	return nil
}

func headers(tpl *templatecheck.Template) map[string]any {
	return m(m(tpl.Properties("WebSecurityHeaders")["ResponseHeadersPolicyConfig"])["SecurityHeadersConfig"])
}

func TestWebDistributionRefuses(t *testing.T) {
	t.Parallel()
	check := templatecheck.WebDistribution
	runBroken(t, []broken{
		{"plain HTTP to the pages", check, func(_ *testing.T, tpl *templatecheck.Template) {
			m(distribution(tpl)["DefaultCacheBehavior"])["ViewerProtocolPolicy"] = "allow-all"
		}, []string{"WebDistribution"}},
		{"plain HTTP to an API path", check, func(_ *testing.T, tpl *templatecheck.Template) {
			behaviour(tpl, "/jobs*")["ViewerProtocolPolicy"] = "allow-all"
		}, []string{"WebDistribution"}},
		{"plain HTTP to the API origin", check, func(_ *testing.T, tpl *templatecheck.Template) {
			m(origin(tpl, "api")["CustomOriginConfig"])["OriginProtocolPolicy"] = "match-viewer"
		}, []string{"WebDistribution"}},
		{"no origin access control (a public bucket)", check, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(origin(tpl, "web"), "OriginAccessControlId")
		}, []string{"WebDistribution"}},
		{"a legacy origin access identity", check, func(_ *testing.T, tpl *templatecheck.Template) {
			m(origin(tpl, "web")["S3OriginConfig"])["OriginAccessIdentity"] = "origin-access-identity/cloudfront/E123"
		}, []string{"WebDistribution"}},
		{"the bucket as a website (custom) origin", check, func(_ *testing.T, tpl *templatecheck.Template) {
			o := origin(tpl, "web")
			delete(o, "S3OriginConfig")
			delete(o, "OriginAccessControlId")
			o["DomainName"] = map[string]any{"Fn::GetAtt": []any{"WebBucket", "WebsiteURL"}}
			o["CustomOriginConfig"] = map[string]any{"OriginProtocolPolicy": "https-only"}
		}, []string{"WebDistribution"}},
		{"an unsigned origin access control", check, func(_ *testing.T, tpl *templatecheck.Template) {
			m(tpl.Properties("WebOriginAccessControl")["OriginAccessControlConfig"])["SigningBehavior"] = "never"
		}, []string{"WebOriginAccessControl"}},
		{"the web bucket allows plain HTTP", check, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "WebBucketPolicy", "DenyInsecureTransport")["Condition"] = map[string]any{}
		}, []string{"WebBucket"}},
		{"no response headers policy", check, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(m(distribution(tpl)["DefaultCacheBehavior"]), "ResponseHeadersPolicyId")
		}, []string{"WebDistribution"}},
		{"a CSP without frame-ancestors", check, func(_ *testing.T, tpl *templatecheck.Template) {
			m(headers(tpl)["ContentSecurityPolicy"])["ContentSecurityPolicy"] = "default-src 'self'"
		}, []string{"WebSecurityHeaders"}},
		{"short HSTS", check, func(_ *testing.T, tpl *templatecheck.Template) {
			m(headers(tpl)["StrictTransportSecurity"])["AccessControlMaxAgeSec"] = 300
		}, []string{"WebSecurityHeaders"}},
		{"an API path left to the bucket", check, func(_ *testing.T, tpl *templatecheck.Template) {
			cfg := distribution(tpl)
			var kept []any
			for _, b := range cfg["CacheBehaviors"].([]any) {
				if m(b)["PathPattern"] != "/uploads*" {
					kept = append(kept, b)
				}
			}
			cfg["CacheBehaviors"] = kept
		}, []string{"WebDistribution"}},
		{"the API cached", check, func(_ *testing.T, tpl *templatecheck.Template) {
			behaviour(tpl, "/assets*")["CachePolicyId"] = "658327ea-f89d-4fab-a63d-7e88639e58f6"
		}, []string{"WebDistribution"}},
		{"the API read-only", check, func(_ *testing.T, tpl *templatecheck.Template) {
			behaviour(tpl, "/auth/*")["AllowedMethods"] = []any{"GET", "HEAD"}
		}, []string{"WebDistribution"}},
	})
}
