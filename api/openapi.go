package api

import (
	_ "embed"
	"net/http"
	"sync"

	"github.com/goccy/go-yaml"
)

// OpenAPI is the API's OpenAPI 3.1 document (YAML), as served at
// /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	return yaml.YAMLToJSON(OpenAPI)
})

func (h *handler) openAPIYAML(w http.ResponseWriter, _ *http.Request, _ *principal) error {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(OpenAPI)
	return nil
}

func (h *handler) openAPIJSON(w http.ResponseWriter, _ *http.Request, _ *principal) error {
	b, err := openAPIJSON()
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeRaw(w, http.StatusOK, b)
	return nil
}
