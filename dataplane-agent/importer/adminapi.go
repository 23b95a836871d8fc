package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// configsPath is the standalone Admin API's whole-config endpoint (apisix/admin/init.lua
// routes /apisix/admin/configs to apisix/admin/standalone.lua).
const configsPath = "/apisix/admin/configs"

// maxConfigBytes bounds the document FromAdminAPI reads.
const maxConfigBytes = 256 << 20

// FromAdminAPI reads the configuration an APISIX in API-driven standalone mode serves, with
// GET <adminURL>/apisix/admin/configs and the admin key in X-API-KEY (adminURL may also be
// that endpoint's full URL). The answer is the document last PUT, as stored by
// apisix/admin/standalone.lua: collections as lists, "<kind>_conf_version" numbers, and the
// X-Last-Modified and X-Digest members; items may carry modifiedIndex. Only the collections
// are imported. hc nil means http.DefaultClient.
func FromAdminAPI(ctx context.Context, hc *http.Client, adminURL, adminKey string) (*Config, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	u := strings.TrimRight(adminURL, "/")
	if !strings.HasSuffix(u, configsPath) {
		u += configsPath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("import: admin URL %q: %w", adminURL, err)
	}
	req.Header.Set("X-API-KEY", adminKey)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("import: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("import: GET %s: read the answer: %w", u, err)
	}
	if len(body) > maxConfigBytes {
		return nil, fmt.Errorf("import: GET %s: the answer is over %d MiB", u, maxConfigBytes>>20)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		var e struct {
			ErrorMsg string `json:"error_msg"`
		}
		if json.Unmarshal(body, &e) == nil && e.ErrorMsg != "" {
			msg = e.ErrorMsg
		}
		hint := ""
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = "; check the admin key (--admin-key-file) against deployment.admin.admin_key, and deployment.admin.allow_admin"
		case http.StatusNotFound:
			hint = "; is this APISIX in API-driven standalone mode (deployment.role: traditional, role_traditional.config_provider: yaml, APISIX 3.13+)? For an etcd-backed APISIX, import from its etcd (--etcd-endpoints)"
		}
		return nil, fmt.Errorf("import: GET %s: APISIX answered %d: %s%s", u, resp.StatusCode, msg, hint)
	}
	c, err := fromStandaloneDocument(body)
	if err != nil {
		return nil, fmt.Errorf("import: GET %s: %w", u, err)
	}
	c.Source = "APISIX standalone Admin API " + u
	if d := resp.Header.Get("X-Digest"); d != "" {
		c.Source += " (X-Digest " + d + ")"
	}
	return c, nil
}

// fromStandaloneDocument imports the collections of a standalone config document.
func fromStandaloneDocument(body []byte) (*Config, error) {
	doc, err := decodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("the answer is not a JSON object: %w", err)
	}
	c := newConfig("")
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := doc[k]
		switch {
		case strings.HasSuffix(k, "_conf_version"), k == "X-Last-Modified", k == "X-Digest":
			continue // the standalone API's bookkeeping (apisix/admin/standalone.lua)
		case !validCollection(k):
			c.notef("%s: not imported: not a collection of APISIX's standalone config", k)
			continue
		}
		var list []any
		switch x := v.(type) {
		case []any:
			list = x
		case map[string]any:
			if len(x) > 0 {
				return nil, fmt.Errorf("%s is an object, want a list of items", k)
			}
			// lua-cjson encodes an empty Lua table as {}: an empty collection
		case nil:
		default:
			return nil, fmt.Errorf("%s is a JSON %T, want a list of items", k, v)
		}
		for i, e := range list {
			obj, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s[%d] is a JSON %T, want an object", k, i, e)
			}
			if hasVariable(obj) {
				c.notef("%s[%d] (%s): holds \"${{\", which fleetgate substitutes at build time; check the imported value", k, i, sortKeyOf(obj))
			}
			c.add(k, sortKeyOf(obj), obj)
		}
	}
	if c.Len() == 0 {
		return nil, errors.New("the gateway's config holds no resource (nothing was PUT yet?)")
	}
	return c, nil
}
