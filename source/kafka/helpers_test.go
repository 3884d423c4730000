package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/vigil-security/vigil/source/azurelog"
)

func plainMechanism(p *Plain) sasl.Mechanism {
	return plain.Auth{User: p.User, Pass: p.Password}.AsMechanism()
}

// optsRecording returns decoder options that record each skipped record's
// position as "file:line".
func optsRecording(errs *[]string) azurelog.Options {
	return azurelog.Options{OnError: func(e *azurelog.RecordError) {
		*errs = append(*errs, fmt.Sprintf("%s:%d", e.File, e.Line))
	}}
}
