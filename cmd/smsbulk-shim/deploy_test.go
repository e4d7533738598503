package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/smsbulk/smsbulk-shim/config"
)

// deployDir is the repository's deploy/ from this package's directory.
const deployDir = "../../deploy"

// TestDeployNamesRealMetrics: every metric the alert rules and the Grafana
// dashboard name is served on /metrics by a shim that has done one bot
// flow, so that a renamed metric cannot leave a silent alert or an empty
// panel.
func TestDeployNamesRealMetrics(t *testing.T) {
	t.Parallel()
	files := []string{filepath.Join(deployDir, "prometheus", "alerts.yaml"), filepath.Join(deployDir, "grafana", "smsbulk-shim.json")}
	metric := regexp.MustCompile(`\b(smsbulk_shim_[a-z0-9_]+|http_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+)\b`)
	named := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metric.FindAllString(string(b), -1) {
			if !slices.Contains(named[m], f) {
				named[m] = append(named[m], f)
			}
		}
	}
	if len(named) < 10 {
		t.Fatalf("only %d metric names found in %v", len(named), files)
	}

	served := servedMetrics(t)
	for name, in := range named {
		if !served[name] {
			t.Errorf("%s, named in %v, is not on /metrics", name, in)
		}
	}
}

// TestREADMEListsEveryMetric: every smsbulk_shim_ metric family served on
// /metrics has a row in the README's metric table.
func TestREADMEListsEveryMetric(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range servedMetrics(t) {
		if !strings.HasPrefix(name, "smsbulk_shim_") {
			continue
		}
		family := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			family = strings.TrimSuffix(family, suffix)
		}
		if !strings.Contains(string(readme), "| `"+family+"` |") {
			t.Errorf("README.md's metric table has no row for %s", family)
		}
	}
}

// servedMetrics is the names of the series that a -sandbox shim serves on
// /metrics after one bot flow (a purchase, two status checks).
func servedMetrics(tb testing.TB) map[string]bool {
	tb.Helper()
	p := startShim(tb, []string{"-sandbox"}, "SANDBOX_SMS_DELAY=1ms")
	call := func(params url.Values) string {
		tb.Helper()
		params.Set("api_key", "demo")
		_, _, body := p.legacy(tb, params)
		return body
	}
	id, ok := parseNumberID(call(url.Values{"action": {"getNumber"}, "service": {"wa"}, "country": {"0"}}))
	if !ok {
		tb.Fatal("getNumber did not answer ACCESS_NUMBER")
	}
	for range 2 { // a miss, then a hit of the ID map cache
		call(url.Values{"action": {"getStatus"}, "id": {strconv.FormatInt(id, 10)}})
	}
	served := map[string]bool{}
	for line := range strings.SplitSeq(metricsText(tb, p.AdminAddr), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		served[name] = true
	}
	return served
}

// TestDeployFilesAreSane parses every YAML and JSON file under deploy/ and
// checks that every SHIM_ variable they set is one config.Config reads, so
// that a manifest cannot set a variable the shim ignores.
func TestDeployFilesAreSane(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		known[config.Prefix+typ.Field(i).Tag.Get("env")] = true
	}
	variable := regexp.MustCompile(`\bSHIM_[A-Z0-9_]+\b`)
	var checked int
	err := filepath.WalkDir(deployDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			dec := yaml.NewDecoder(bytes.NewReader(b))
			for {
				var doc map[string]any
				if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Errorf("%s: %v", path, err)
					break
				}
				if strings.Contains(path, "kubernetes") && (doc["apiVersion"] == nil || doc["kind"] == nil) {
					t.Errorf("%s: a document without apiVersion and kind", path)
				}
			}
		case ".json":
			if !json.Valid(b) {
				t.Errorf("%s: not valid JSON", path)
			}
		case ".go", ".sh", ".in", ".conf", "":
		default:
			return nil
		}
		for _, v := range variable.FindAllString(string(b), -1) {
			if !known[v] && v != "SHIM_TEST_POSTGRES_DSN" {
				t.Errorf("%s sets %s, which the shim does not read", path, v)
			}
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Errorf("only %d files checked under %s", checked, deployDir)
	}
}
