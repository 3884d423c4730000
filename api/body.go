package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// readObject reads a JSON object body (Content-Type application/json or
// none) into its members, keeping each value raw.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &httpError{http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
				fmt.Sprintf("the body must be application/json, not %q", ct)}
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &httpError{http.StatusRequestEntityTooLarge, CodeBadRequest, fmt.Sprintf("the body is larger than %d bytes", maxBody)}
		}
		return nil, badRequest("cannot read the body: " + err.Error())
	}
	return parseObject(data)
}

// parseObject decodes a JSON object into its members.
func parseObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, badRequest("the body is not a JSON object: " + err.Error())
	}
	if m == nil {
		return nil, badRequest("the body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("the body has data after its JSON object")
	}
	return m, nil
}

// odataType checks an "@odata.type" member, which Graph clients may send,
// against the entity's type (with or without the leading "#"), and removes
// it.
func odataType(m map[string]json.RawMessage, want string) error {
	raw, ok := m["@odata.type"]
	if !ok {
		return nil
	}
	delete(m, "@odata.type")
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || strings.TrimPrefix(s, "#") != want {
		return badRequest(fmt.Sprintf("@odata.type must be #%s", want))
	}
	return nil
}

// stringMember decodes member name as a string; ok is false when absent.
// null is an error unless nullable, when it gives "" and ok.
func stringMember(m map[string]json.RawMessage, name string, nullable bool) (string, bool, error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if string(raw) == "null" {
		if nullable {
			return "", true, nil
		}
		return "", true, badRequest(fmt.Sprintf("%s cannot be null", name))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, badRequest(fmt.Sprintf("%s must be a string", name))
	}
	return s, true, nil
}

// enumMember decodes member name as one of the values (matched without
// regard to case, returned as listed).
func enumMember(m map[string]json.RawMessage, name string, values []string, nullable bool) (string, bool, error) {
	s, ok, err := stringMember(m, name, nullable)
	if err != nil || !ok || s == "" && nullable {
		return s, ok, err
	}
	for _, v := range values {
		if strings.EqualFold(v, s) {
			return v, true, nil
		}
	}
	return "", true, badRequest(fmt.Sprintf("%s %q is not one of: %s", name, s, strings.Join(values, ", ")))
}

// unknownMembers fails on members other than the allowed ones, naming
// read-only properties as such.
func unknownMembers(m map[string]json.RawMessage, allowed []string, readOnly func(string) bool) error {
	var bad []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	if readOnly(bad[0]) {
		return badRequest(fmt.Sprintf("property %s is read-only; only %s can be changed", bad[0], strings.Join(allowed, " and ")))
	}
	return badRequest(fmt.Sprintf("unknown property %q; only %s can be changed", bad[0], strings.Join(allowed, " and ")))
}
