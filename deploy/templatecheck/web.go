package templatecheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Resource types of the web app's distribution.
const (
	TypeDistribution         = "AWS::CloudFront::Distribution"
	TypeOriginAccessControl  = "AWS::CloudFront::OriginAccessControl"
	TypeResponseHeaderPolicy = "AWS::CloudFront::ResponseHeadersPolicy"
)

// CachingDisabled is the id of CloudFront's managed cache policy that
// caches nothing: the API's answers are per user.
const CachingDisabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"

// MinHSTSSeconds is the shortest Strict-Transport-Security max-age accepted (one year).
const MinHSTSSeconds = 31536000

// WebDistribution checks every CloudFront distribution: each of its
// behaviours answers over TLS only (redirect-to-https or https-only) with a
// response headers policy of the template that sets a Content-Security-Policy
// with frame-ancestors and HSTS of at least a year; every S3 origin is a
// bucket of the template read through an origin access control that signs
// always (no legacy origin access identity, no website endpoint), and the
// bucket's policy denies requests without TLS; every custom origin is
// reached over https only; and every path of the HTTP API's routes goes to
// the API origin through a behaviour that caches nothing, so the app and the
// API share one origin.
func WebDistribution(t *Template) error {
	var ps problems
	for _, d := range t.IDs(TypeDistribution) {
		cfg, _ := t.Properties(d)["DistributionConfig"].(map[string]any)
		origins := map[string]map[string]any{}
		for _, o := range list(cfg["Origins"]) {
			om, _ := o.(map[string]any)
			id, _ := om["Id"].(string)
			origins[id] = om
		}
		apiOrigin := ""
		for id, o := range origins {
			checkOrigin(t, &ps, d, id, o)
			if slices.Contains(references(o["DomainName"]), firstOf(t.IDs(TypeHTTPAPI))) {
				apiOrigin = id
			}
		}

		behaviours := []map[string]any{}
		if b, ok := cfg["DefaultCacheBehavior"].(map[string]any); ok {
			behaviours = append(behaviours, b)
		} else {
			ps.add(d, "no DefaultCacheBehavior")
		}
		for _, b := range list(cfg["CacheBehaviors"]) {
			bm, _ := b.(map[string]any)
			behaviours = append(behaviours, bm)
		}
		for _, b := range behaviours {
			name := "DefaultCacheBehavior"
			if p, ok := b["PathPattern"].(string); ok {
				name = "behaviour " + p
			}
			if v := b["ViewerProtocolPolicy"]; v != "redirect-to-https" && v != "https-only" {
				ps.add(d, "%s: ViewerProtocolPolicy %v lets viewers in without TLS (want redirect-to-https or https-only)", name, v)
			}
			checkHeaders(t, &ps, d, name, b["ResponseHeadersPolicyId"])
		}
		if def, ok := cfg["DefaultCacheBehavior"].(map[string]any); ok {
			if o := origins[fmt.Sprint(def["TargetOriginId"])]; o == nil || o["S3OriginConfig"] == nil {
				ps.add(d, "DefaultCacheBehavior does not go to an S3 origin (the web bucket)")
			}
		}
		if apiOrigin == "" {
			ps.add(d, "no origin is the HTTP API (its DomainName must name %s)", firstOf(t.IDs(TypeHTTPAPI)))
			continue
		}
		for _, path := range routePaths(t) {
			b := matchBehaviour(behaviours[1:], path)
			switch {
			case b == nil:
				ps.add(d, "API path %s has no behaviour: it would go to the web bucket", path)
			case b["TargetOriginId"] != apiOrigin:
				ps.add(d, "API path %s goes to origin %v, not the API (%s)", path, b["TargetOriginId"], apiOrigin)
			case b["CachePolicyId"] != CachingDisabled:
				ps.add(d, "API path %s is cached (CachePolicyId %v, want CachingDisabled %s)", path, compact(b["CachePolicyId"]), CachingDisabled)
			case !slices.Contains(list(b["AllowedMethods"]), any("POST")) || !slices.Contains(list(b["AllowedMethods"]), any("DELETE")):
				ps.add(d, "API path %s: AllowedMethods %v leave out POST or DELETE", path, compact(b["AllowedMethods"]))
			}
		}
	}
	return ps.err()
}

func checkOrigin(t *Template, ps *problems, d, id string, o map[string]any) {
	if custom, ok := o["CustomOriginConfig"].(map[string]any); ok {
		if custom["OriginProtocolPolicy"] != "https-only" {
			ps.add(d, "origin %s: OriginProtocolPolicy %v (want https-only)", id, custom["OriginProtocolPolicy"])
		}
		if slices.ContainsFunc(references(o["DomainName"]), func(r string) bool { return t.TypeOf(r) == TypeBucket }) {
			ps.add(d, "origin %s reaches a bucket as a custom origin (a website endpoint is public): use S3OriginConfig with an origin access control", id)
		}
		return
	}
	s3, ok := o["S3OriginConfig"].(map[string]any)
	if !ok {
		ps.add(d, "origin %s is neither an S3 nor a custom origin", id)
		return
	}
	if oai, ok := s3["OriginAccessIdentity"]; ok && !isEmptyString(oai) {
		ps.add(d, "origin %s uses a legacy origin access identity: use an origin access control", id)
	}
	oac, _, _ := target(o["OriginAccessControlId"])
	if t.TypeOf(oac) != TypeOriginAccessControl {
		ps.add(d, "origin %s has no OriginAccessControlId of the template: the bucket would have to be public", id)
	} else {
		c, _ := t.Properties(oac)["OriginAccessControlConfig"].(map[string]any)
		if c["SigningBehavior"] != "always" || c["OriginAccessControlOriginType"] != "s3" {
			ps.add(oac, "SigningBehavior %v, OriginAccessControlOriginType %v (want always, s3)", c["SigningBehavior"], c["OriginAccessControlOriginType"])
		}
	}
	bucket, _, _ := target(o["DomainName"])
	if t.TypeOf(bucket) != TypeBucket {
		ps.add(d, "origin %s: DomainName is not !GetAtt <bucket>.RegionalDomainName of a bucket in the template", id)
		return
	}
	if !bucketTLSOnly(t, bucket) {
		ps.add(bucket, "no bucket policy denies requests without TLS (aws:SecureTransport false)")
	}
}

func isEmptyString(v any) bool { s, ok := v.(string); return ok && s == "" }

func checkHeaders(t *Template, ps *problems, d, behaviour string, ref any) {
	id, _, _ := target(ref)
	if t.TypeOf(id) != TypeResponseHeaderPolicy {
		ps.add(d, "%s: no ResponseHeadersPolicyId of the template (CSP, HSTS, frame-ancestors)", behaviour)
		return
	}
	cfg, _ := t.Properties(id)["ResponseHeadersPolicyConfig"].(map[string]any)
	sec, _ := cfg["SecurityHeadersConfig"].(map[string]any)
	csp, _ := sec["ContentSecurityPolicy"].(map[string]any)
	if text := fmt.Sprint(compact(csp["ContentSecurityPolicy"])); !strings.Contains(text, "frame-ancestors") || !strings.Contains(text, "default-src") {
		ps.add(id, "the Content-Security-Policy sets no default-src and frame-ancestors")
	}
	hsts, _ := sec["StrictTransportSecurity"].(map[string]any)
	if n, _ := number(hsts["AccessControlMaxAgeSec"]); n < MinHSTSSeconds {
		ps.add(id, "Strict-Transport-Security max-age %d is under a year (%d)", n, MinHSTSSeconds)
	}
}

// bucketTLSOnly reports whether a bucket policy of the template denies the
// bucket and its objects to requests without TLS.
func bucketTLSOnly(t *Template, bucket string) bool {
	for _, pol := range t.IDs(TypeBucketPolicy) {
		props := t.Properties(pol)
		if b, _, _ := target(props["Bucket"]); b != bucket {
			continue
		}
		doc, _ := props["PolicyDocument"].(map[string]any)
		for _, st := range list(doc["Statement"]) {
			if s, _ := st.(map[string]any); deniesInsecureTransport(s, bucket) {
				return true
			}
		}
	}
	return false
}

// routePaths returns the HTTP API's route paths with each {param} filled
// in, as a viewer would send them.
func routePaths(t *Template) []string {
	var out []string
	for _, fn := range t.IDs(TypeFunction) {
		events, _ := t.Properties(fn)["Events"].(map[string]any)
		for _, ev := range events {
			e, _ := ev.(map[string]any)
			if e["Type"] != "HttpApi" {
				continue
			}
			p, _ := e["Properties"].(map[string]any)
			if path, ok := p["Path"].(string); ok {
				out = append(out, regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11"))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// matchBehaviour returns the first behaviour whose PathPattern matches path
// as CloudFront matches them (* any characters, / included; ? one).
func matchBehaviour(behaviours []map[string]any, path string) map[string]any {
	for _, b := range behaviours {
		pattern, _ := b["PathPattern"].(string)
		re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
		if regexp.MustCompile(re).MatchString(path) {
			return b
		}
	}
	return nil
}

func firstOf(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
