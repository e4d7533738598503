// Package contract holds openapi.yaml, the OpenAPI 3.0 document of the
// native API as this project fixes it, for the tests of package upstream
// and of the sandbox, which both check their exchanges against it.
//
// It is for tests only: only _test.go files import it, so that kin-openapi
// and its dependencies stay out of the shim's binary. The client and the
// sandbox do not read the document at run time.
package contract

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// Spec is openapi.yaml. Callers must not modify the slice; use Load for a
// parsed copy.
//
//go:embed openapi.yaml
var Spec []byte

// Load parses Spec and validates it with kin-openapi. Each call returns a
// fresh document that the caller may modify (for example its Servers). It
// does no I/O: external $refs are not followed.
func Load() (*openapi3.T, error) {
	// The loader and the validator only use the context to carry options;
	// nothing here blocks or can be cancelled.
	ctx := context.Background()
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(Spec)
	if err != nil {
		return nil, fmt.Errorf("loading openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validating openapi.yaml: %w", err)
	}
	return doc, nil
}
