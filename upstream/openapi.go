package upstream

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// OpenAPISpec is upstream/openapi.yaml: the OpenAPI 3.0 document of the
// native API as this project fixes it. The client and the sandbox are both
// tested against it. Callers must not modify the slice; use LoadOpenAPI for a
// parsed copy.
//
//go:embed openapi.yaml
var OpenAPISpec []byte

// LoadOpenAPI parses OpenAPISpec and validates it with kin-openapi. Each call
// returns a fresh document that the caller may modify (for example its
// Servers). It does no I/O: external $refs are not followed.
func LoadOpenAPI() (*openapi3.T, error) {
	// The loader and the validator only use the context to carry options;
	// nothing here blocks or can be cancelled.
	ctx := context.Background()
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(OpenAPISpec)
	if err != nil {
		return nil, fmt.Errorf("loading openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validating openapi.yaml: %w", err)
	}
	return doc, nil
}
