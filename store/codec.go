package store

import (
	"encoding/json"
	"fmt"

	"github.com/vigil-security/vigil/alert"
)

// evidenceFields is the JSON of an evidence row's fields column: the
// evidence without its time, which has a column of its own.
type evidenceFields struct {
	Operation string `json:"operation"`
	Caller    string `json:"caller,omitempty"`
	CallerIP  string `json:"callerIp,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Target    string `json:"target,omitempty"`
	Result    string `json:"result,omitempty"`
	Source    string `json:"source,omitempty"`
}

// encodeEvidence returns the fields column of e.
func encodeEvidence(e *alert.Evidence) ([]byte, error) {
	b, err := json.Marshal(evidenceFields{
		Operation: e.Operation, Caller: e.Caller, CallerIP: e.CallerIP,
		Resource: e.Resource, Target: e.Target, Result: e.Result, Source: e.Source,
	})
	if err != nil {
		return nil, fmt.Errorf("encode evidence: %w", err)
	}
	return b, nil
}

// decodeEvidence fills e's fields (not its time) from a fields column.
func decodeEvidence(b []byte, e *alert.Evidence) error {
	var f evidenceFields
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("decode evidence fields: %w", err)
	}
	e.Operation, e.Caller, e.CallerIP = f.Operation, f.Caller, f.CallerIP
	e.Resource, e.Target, e.Result, e.Source = f.Resource, f.Target, f.Result, f.Source
	return nil
}

// encodeEntities returns the entities column: nil (NULL) when empty.
func encodeEntities(v []alert.Entity) ([]byte, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		// A NaN or infinite coordinate is the one way to get here.
		return nil, fmt.Errorf("%w entities: %w", ErrInvalid, err)
	}
	return b, nil
}

// encodeDetails returns the details column: nil (NULL) when empty.
func encodeDetails(m map[string]string) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode details: %w", err)
	}
	return b, nil
}

// decodeEntities decodes an entities column; NULL gives nil.
func decodeEntities(b []byte) ([]alert.Entity, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var out []alert.Entity
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode entities: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// decodeDetails decodes a details column; NULL gives nil.
func decodeDetails(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var out map[string]string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode details: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
