package contract_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/upstream/internal/contract"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	doc, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = nil
	again, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Servers) == 0 {
		t.Error("changing one loaded document changed the next")
	}
}

// TestTestOnly checks that nothing but tests imports this package or
// kin-openapi: the client, the sandbox and the shim's binary must not carry
// them.
func TestTestOnly(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	pkgs := []string{
		"github.com/smsbulk/smsbulk-shim/upstream",
		"github.com/smsbulk/smsbulk-shim/upstream/sandbox",
		"github.com/smsbulk/smsbulk-shim/cmd/smsbulk-shim",
	}
	out, err := exec.CommandContext(t.Context(), gobin, append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(pkgs) {
		t.Fatalf("go list -deps listed %d packages", len(deps))
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "github.com/getkin/") || dep == "github.com/smsbulk/smsbulk-shim/upstream/internal/contract" {
			t.Errorf("%s is a dependency of %v", dep, pkgs)
		}
	}
}
