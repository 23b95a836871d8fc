package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// APISIXStandIn is a stand-in for APISIX's Admin API in API-driven standalone mode
// (deployment.role: traditional, role_traditional.config_provider: yaml): APISIX cannot run
// on the test machines, so this real HTTP server on loopback answers /apisix/admin/configs as
// the named APISIX release does. Every rule it implements is taken from APISIX's source,
// apache/apisix apisix/admin/standalone.lua (cited below as standalone.lua), the data-plane
// side from apisix/core/config_yaml.lua (config_yaml.lua):
//
//   - X-API-KEY must be the configured key, else 401 {"error_msg":"failed to check token"}
//     (apisix/admin/init.lua, check_token);
//   - PUT: from 3.14 an X-Digest header is required ("missing digest header", 400); an
//     empty body is a 400 ("invalid request body: empty request body"); a body that is not
//     JSON is a 400 ("invalid request body: …"); from 3.14 a PUT whose X-Digest equals the
//     stored one is answered 204 and changes nothing, before any check of the body;
//   - PUT, per collection the release knows: conf_version is the stored
//     "<collection>_conf_version" (0 before the first PUT); the sent one must be a number
//     ("<key> must be a number") not lower than the stored one ("<key> must be greater than
//     or equal to (<stored>)"); absent means stored+1; equal keeps the stored items and
//     ignores the sent ones; else the sent items replace the collection, and a collection
//     sent without items (or not sent) is wiped. Each item is checked (see checkItem: a
//     subset of APISIX's schemas), duplicates are refused, and an error is a 400 whose
//     error_msg starts "invalid <collection> at index <i>, err: ". Success is 202 with, from
//     3.14, X-Last-Modified (Unix seconds) and X-Digest;
//   - GET returns the stored document as JSON (before the first PUT: every conf_version at
//     0), and from 3.14 X-Last-Modified and X-Digest headers; HEAD (3.14+) the headers only;
//     before 3.14 every method but PUT is a GET;
//   - POST /apisix/admin/configs/validate (3.15+): 200 {"valid":true,…} or 400
//     {"error_msg":"Configuration validation failed","valid":false,"errors":[…]};
//   - the data plane (Running) follows config_yaml.lua sync_data: a collection whose
//     conf_version moved is re-synced; items no longer listed are dropped; an item whose
//     modifiedIndex equals the running one's keeps its old content (not reloaded), any other
//     item is (re)loaded, with modifiedIndex = its own or the collection's conf_version.
//
// Releases: "3.13" (no digest, no HEAD, no 204; the collections of the 3.13 docs' GET),
// "3.14" (digest, 204, HEAD; the collections of apisix/constants.lua's HTTP and stream etcd
// directories, which has no secrets) and "3.15" (3.14 plus validate).
type APISIXStandIn struct {
	// URL is the Admin API base URL, e.g. http://127.0.0.1:34567.
	URL string
	// Key is the admin key the stand-in requires in X-API-KEY.
	Key string
	// Release is "3.13", "3.14" or "3.15".
	Release string
	// Wait, when set before the first request, makes PUT take ?wait=<ms> as the newest
	// releases do (standalone.lua parse_wait_ms; t/admin/standalone-wait.t): a PUT with a
	// positive wait answers 200 once every worker applied the config — at once here, the
	// stand-in's data plane applies synchronously — and 202 without one.
	Wait bool

	addr string
	t    testing.TB

	mu      sync.Mutex
	srv     *http.Server
	config  map[string]any // the stored document (with X-Digest and X-Last-Modified); nil before a PUT
	running map[string]*runningCollection
	counts  map[string]int // requests by method
	clock   int64
}

// RunningItem is what the stand-in's data plane runs for one item.
type RunningItem struct {
	// Value is the item as loaded.
	Value map[string]any
	// ModifiedIndex is the index the data plane keeps for the item.
	ModifiedIndex int64
	// Loads counts how often the item was (re)loaded.
	Loads int
}

type runningCollection struct {
	version int64
	items   map[string]*RunningItem
}

// standInCollections are the collections each release knows.
var standInCollections = map[string][]string{
	// the GET of an empty 3.13 in the API-driven standalone docs (config_yaml's created
	// objects of an http-only APISIX)
	"3.13": {"consumer_groups", "secrets", "global_rules", "upstreams", "ssls", "protos", "plugin_metadata", "routes", "services", "plugin_configs", "consumers"},
	// apisix/constants.lua HTTP_ETCD_DIRECTORY ∪ STREAM_ETCD_DIRECTORY (standalone.lua ALL_RESOURCE_KEYS)
	"3.14": {"upstreams", "plugins", "ssls", "stream_routes", "plugin_metadata", "routes", "services", "consumers", "global_rules", "protos", "plugin_configs", "consumer_groups"},
}

// StartAPISIXStandIn starts a stand-in for APISIX release (see APISIXStandIn) requiring key,
// stopped when the test ends.
func StartAPISIXStandIn(t testing.TB, release, key string) *APISIXStandIn {
	t.Helper()
	switch release {
	case "3.13", "3.14", "3.15":
	default:
		t.Fatalf("APISIX stand-in: unknown release %q (want 3.13, 3.14 or 3.15)", release)
	}
	a := &APISIXStandIn{Key: key, Release: release, t: t, running: map[string]*runningCollection{}, counts: map[string]int{}, clock: time.Now().Unix()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("APISIX stand-in: %v", err)
	}
	a.addr = lis.Addr().String()
	a.URL = "http://" + a.addr
	a.serve(lis)
	t.Cleanup(a.Stop)
	return a
}

func (a *APISIXStandIn) serve(lis net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(a.handle), ReadHeaderTimeout: 5 * time.Second}
	a.mu.Lock()
	a.srv = srv
	a.mu.Unlock()
	go srv.Serve(lis)
}

// Stop stops the server (connections are refused) and keeps the stored config, as an
// APISIX whose admin port is unreachable.
func (a *APISIXStandIn) Stop() {
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Start serves again on the same address after Stop.
func (a *APISIXStandIn) Start() {
	a.t.Helper()
	var lis net.Listener
	var err error
	for i := 0; i < 100; i++ { // the port may take a moment to be free again
		if lis, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		a.t.Fatalf("APISIX stand-in: listen again on %s: %v", a.addr, err)
	}
	a.serve(lis)
}

// Restart forgets the stored config, as a restarted APISIX does (API-driven standalone mode
// keeps it in a shared dict, in memory).
func (a *APISIXStandIn) Restart() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.config = nil
	a.running = map[string]*runningCollection{}
}

// Requests returns how many requests of method the stand-in answered.
func (a *APISIXStandIn) Requests(method string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts[method]
}

// Document returns a copy of the stored document (nil before the first PUT).
func (a *APISIXStandIn) Document() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.config == nil {
		return nil
	}
	return clone(a.config)
}

// Running returns what the data plane runs for the item id of collection, and whether it
// runs one.
func (a *APISIXStandIn) Running(collection, id string) (RunningItem, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rc := a.running[collection]
	if rc == nil || rc.items[id] == nil {
		return RunningItem{}, false
	}
	it := *rc.items[id]
	it.Value = clone(it.Value)
	return it, true
}

// Put PUTs doc (JSON) as another writer would (an operator, another tool), with the
// stand-in's key and the given X-Digest, and returns the status.
func (a *APISIXStandIn) Put(t testing.TB, doc, digest string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, a.URL+"/apisix/admin/configs", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-KEY", a.Key)
	if digest != "" {
		req.Header.Set("X-Digest", digest)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT to the APISIX stand-in: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (a *APISIXStandIn) atLeast(r string) bool { return a.Release >= r }

func (a *APISIXStandIn) collections() []string {
	if a.atLeast("3.14") {
		return standInCollections["3.14"]
	}
	return standInCollections["3.13"]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func errorJSON(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error_msg": msg})
}

func (a *APISIXStandIn) handle(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts[r.Method]++
	if a.Key != "" && r.Header.Get("X-API-KEY") != a.Key {
		errorJSON(w, http.StatusUnauthorized, "failed to check token") // apisix/admin/init.lua check_token
		return
	}
	switch {
	case r.URL.Path == "/apisix/admin/configs/validate" && r.Method == http.MethodPost && a.atLeast("3.15"):
		a.validate(w, r)
	case r.URL.Path == "/apisix/admin/configs/validate" && a.atLeast("3.15"):
		errorJSON(w, http.StatusNotFound, "Not found")
	case r.URL.Path != "/apisix/admin/configs" && !(r.URL.Path == "/apisix/admin/configs/validate"):
		errorJSON(w, http.StatusNotFound, "Unsupported resource type")
	case r.Method == http.MethodPut:
		a.update(w, r)
	case r.Method == http.MethodHead && a.atLeast("3.14"):
		a.metadataHeaders(w)
		w.WriteHeader(http.StatusOK)
	default: // standalone.lua run(): every other method is a GET (HEAD before 3.14 too)
		a.get(w)
	}
}

func (a *APISIXStandIn) metadataHeaders(w http.ResponseWriter) {
	if !a.atLeast("3.14") || a.config == nil {
		return
	}
	if v, ok := a.config["X-Last-Modified"]; ok {
		w.Header().Set("X-Last-Modified", fmt.Sprint(v))
	}
	if v, ok := a.config["X-Digest"]; ok {
		w.Header().Set("X-Digest", fmt.Sprint(v))
	}
}

func (a *APISIXStandIn) get(w http.ResponseWriter) {
	doc := map[string]any{}
	if a.config == nil {
		for _, c := range a.collections() {
			doc[c+"_conf_version"] = 0
		}
	} else {
		for k, v := range a.config {
			if k != "X-Digest" && k != "X-Last-Modified" {
				doc[k] = v
			}
		}
	}
	a.metadataHeaders(w)
	writeJSON(w, http.StatusOK, doc)
}

func readDoc(r *http.Request) (map[string]any, string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, "invalid request body: " + err.Error()
	}
	if len(body) == 0 {
		return nil, "invalid request body: empty request body"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, fmt.Sprintf("invalid request body: %v", err)
	}
	return doc, ""
}

// checkItem is the stand-in's subset of the checks standalone.lua's check_conf runs through
// each resource's checker: an item is an object; a route needs uri or uris (APISIX's route
// schema: oneOf uri/uris); an id is a string or an integer; modifiedIndex, when set, is an
// integer (standalone.lua patch_schema).
func checkItem(c string, v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "invalid item data, it should be an object"
	}
	if c == "routes" && m["uri"] == nil && m["uris"] == nil {
		return "allOf 1 failed: value should match only one schema, but matches none"
	}
	if mi, ok := m["modifiedIndex"]; ok {
		n, isNum := mi.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, 64); !isNum || err != nil {
			return `property "modifiedIndex" validation failed: wrong type: expected integer, got ` + typeName(mi)
		}
	}
	return ""
}

func typeName(v any) string {
	switch v.(type) {
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return "object"
}

// identity is check_duplicate's identifier: for consumers the id (credentials) or username.
func identity(c string, m map[string]any) string {
	if c == "consumers" && m["id"] == nil {
		return fmt.Sprint(m["username"])
	}
	return fmt.Sprint(m["id"])
}

// checkItems checks a collection's items; it returns the error_msg of the first problem.
func (a *APISIXStandIn) checkItems(c string, items []any) string {
	seen := map[string]bool{}
	for i, it := range items {
		prefix := fmt.Sprintf("invalid %s at index %d, err: ", c, i)
		if msg := checkItem(c, it); msg != "" {
			return prefix + msg
		}
		m := it.(map[string]any)
		if c == "plugins" {
			continue
		}
		id := identity(c, m)
		if seen[id] {
			if a.atLeast("3.14") {
				kind := "id"
				if c == "consumers" {
					kind = "credential id"
					if m["id"] == nil {
						kind = "username"
					}
				}
				return "found duplicate " + kind + " " + id + " in " + c
			}
			return prefix + "duplicate id found " + id
		}
		seen[id] = true
	}
	return ""
}

func number(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return int64(f), err == nil
}

func (a *APISIXStandIn) update(w http.ResponseWriter, r *http.Request) {
	digest := r.Header.Get("X-Digest")
	if a.atLeast("3.14") && digest == "" {
		errorJSON(w, http.StatusBadRequest, "missing digest header")
		return
	}
	req, msg := readDoc(r)
	if msg != "" {
		errorJSON(w, http.StatusBadRequest, msg)
		return
	}
	if a.atLeast("3.14") && a.config != nil && a.config["X-Digest"] == digest {
		w.WriteHeader(http.StatusNoContent) // "config not changed: same digest"
		return
	}
	next := map[string]any{}
	for _, c := range a.collections() {
		ck := c + "_conf_version"
		var stored int64
		if a.config != nil {
			stored, _ = number(a.config[ck])
		}
		nv := stored + 1
		if v, ok := req[ck]; ok {
			n, isNum := number(v)
			if !isNum {
				errorJSON(w, http.StatusBadRequest, ck+" must be a number")
				return
			}
			if n < stored {
				errorJSON(w, http.StatusBadRequest, fmt.Sprintf("%s must be greater than or equal to (%d)", ck, stored))
				return
			}
			nv = n
		}
		next[ck] = nv
		if nv == stored {
			if a.config != nil && a.config[c] != nil {
				next[c] = a.config[c]
			}
			continue
		}
		items, _ := req[c].([]any)
		if len(items) == 0 {
			continue
		}
		if msg := a.checkItems(c, items); msg != "" {
			errorJSON(w, http.StatusBadRequest, msg)
			return
		}
		next[c] = items
	}
	if a.atLeast("3.14") {
		a.clock++ // ngx.time(): seconds; the stand-in moves it forward on every PUT
		next["X-Last-Modified"] = a.clock
		next["X-Digest"] = digest
	}
	a.config = clone(next)
	a.sync()
	a.metadataHeaders(w)
	if wait, _ := strconv.Atoi(r.URL.Query().Get("wait")); a.Wait && wait > 0 {
		w.WriteHeader(http.StatusOK) // all_workers_applied
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// sync is the data plane taking the stored config (config_yaml.lua sync_data).
func (a *APISIXStandIn) sync() {
	for _, c := range a.collections() {
		v, _ := number(jsonNumber(a.config[c+"_conf_version"]))
		rc := a.running[c]
		if rc == nil {
			rc = &runningCollection{items: map[string]*RunningItem{}}
			a.running[c] = rc
		}
		if rc.version == v {
			continue
		}
		rc.version = v
		items, _ := a.config[c].([]any)
		keep := map[string]bool{}
		for i, it := range items {
			m, _ := it.(map[string]any)
			id := fmt.Sprint(m["id"])
			if m["id"] == nil {
				id = fmt.Sprint(m["username"])
				if m["username"] == nil {
					id = "arr_" + strconv.Itoa(i+1)
				}
			}
			keep[id] = true
			mi, hasIndex := number(jsonNumber(m["modifiedIndex"]))
			if pre := rc.items[id]; pre != nil && hasIndex && pre.ModifiedIndex == mi {
				continue // same modifiedIndex: the old content stays
			}
			if !hasIndex {
				mi = v
			}
			loads := 1
			if pre := rc.items[id]; pre != nil {
				loads = pre.Loads + 1
			}
			rc.items[id] = &RunningItem{Value: clone(m), ModifiedIndex: mi, Loads: loads}
		}
		for id := range rc.items {
			if !keep[id] {
				delete(rc.items, id)
			}
		}
	}
}

// jsonNumber turns the stand-in's own numbers (int64 after a clone) into json.Number.
func jsonNumber(v any) any {
	switch x := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case int:
		return json.Number(strconv.Itoa(x))
	}
	return v
}

func (a *APISIXStandIn) validate(w http.ResponseWriter, r *http.Request) {
	req, msg := readDoc(r)
	if msg != "" {
		errorJSON(w, http.StatusBadRequest, msg)
		return
	}
	var errs []map[string]any
	cols := a.collections()
	sort.Strings(cols)
	for _, c := range cols {
		items, _ := req[c].([]any)
		for i, it := range items {
			if msg := checkItem(c, it); msg != "" {
				errs = append(errs, map[string]any{"resource_type": c, "index": i, "error": fmt.Sprintf("invalid %s at index %d, err: %s", c, i, msg)})
			}
		}
		if v, ok := req[c+"_conf_version"]; ok {
			if _, isNum := number(v); !isNum {
				errs = append(errs, map[string]any{"resource_type": c, "error": c + "_conf_version must be a number, got " + typeName(v)})
			}
		}
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_msg": "Configuration validation failed", "valid": false, "errors": errs})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Configuration is valid", "valid": true})
}

// clone deep-copies a JSON document (numbers stay json.Number).
func clone(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		panic(err)
	}
	return out
}
