package config_test

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
)

func TestParseDefaults(t *testing.T) {
	c, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.NativePrefix != "/api/v1" || c.Profile != "sms-activate" || !c.Passthrough ||
		c.IDMapDSN != "./data/idmap.db" || c.IDMapRetention != 30*24*time.Hour || c.AdminAddr != "127.0.0.1:9090" {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(true); err != nil {
		t.Errorf("defaults with -sandbox: %v", err)
	}
	err = c.Validate(false)
	if err == nil || !strings.Contains(err.Error(), "SHIM_UPSTREAM_URL is not set") || !strings.Contains(err.Error(), "SHIM_KEY_SECRET") {
		t.Errorf("defaults without -sandbox: %v", err)
	}
}

func TestParseEnviron(t *testing.T) {
	c, err := config.Parse([]string{"SHIM_ADDR=127.0.0.1:0", "SHIM_PASSTHROUGH=false", "SHIM_PROFILE=smsbulk",
		"SHIM_UPSTREAM_URL=https://smsbulk.example", "SHIM_KEY_SECRET=0123456789abcdef0123", "SHIM_UPSTREAM_TIMEOUT=3s", "ADDR=ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:0" || c.Passthrough || c.Profile != "smsbulk" || c.UpstreamTimeout != 3*time.Second {
		t.Errorf("parsed: %+v", c)
	}
	if err := c.Validate(false); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if _, err := config.Parse([]string{"SHIM_UPSTREAM_TIMEOUT=soon"}); err == nil {
		t.Error("a bad duration parsed")
	}
}

func TestValidateReportsEverything(t *testing.T) {
	c, err := config.Parse([]string{"SHIM_PROFILE=legacy", "SHIM_UPSTREAM_URL=ftp://x", "SHIM_LOG_FORMAT=xml",
		"SHIM_REQUEST_TIMEOUT=0s", "SHIM_NATIVE_PREFIX=api", "SHIM_UPSTREAM_URL=https://user:pw@x"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate(false)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"SHIM_PROFILE", "SHIM_LOG_FORMAT", "SHIM_REQUEST_TIMEOUT must be positive", "SHIM_NATIVE_PREFIX", "SHIM_KEY_SECRET", "UPSTREAM_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestPrintHelpListsEveryVariable(t *testing.T) {
	var buf bytes.Buffer
	if err := config.PrintHelp(&buf); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := "SHIM_" + f.Tag.Get("env")
		if !strings.Contains(buf.String(), name) {
			t.Errorf("help lacks %s", name)
		}
		if f.Tag.Get("help") == "" {
			t.Errorf("%s has no help text", name)
		}
	}
	if !strings.Contains(buf.String(), "SHIM_ADDR") || !strings.Contains(buf.String(), ":8080") {
		t.Errorf("help:\n%s", buf.String())
	}
}

// TestREADMEListsEveryVariable keeps the README's configuration table true.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		row := "| `SHIM_" + f.Tag.Get("env") + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md has no configuration row for SHIM_%s", f.Tag.Get("env"))
		}
	}
}
