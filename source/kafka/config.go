package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/vigil-security/vigil/source/azurelog"
)

// Config says where to read from and how to authenticate.
type Config struct {
	// Brokers are the bootstrap brokers (host:port).
	Brokers []string
	// Topics are read in full by the group.
	Topics []string
	// Group is the consumer group: the members of one group share the
	// topics' partitions, and the group's committed offsets say where to
	// resume.
	Group string
	// ClientID names the client in the brokers' logs (default "vigil").
	ClientID string
	// SASL, when set, authenticates with SASL PLAIN.
	SASL *Plain
	// TLS, when set, is the TLS configuration of broker connections;
	// nil connects in plain text.
	TLS *tls.Config
	// MaxPollRecords bounds the messages one Poll returns (default 500).
	MaxPollRecords int
	// FromEnd starts a group that has no committed offset at the end of
	// the topics instead of their start.
	FromEnd bool
	// Decoder configures the decoding of messages; its OnError, if set, is
	// called for each malformed record after the Consumer counted and
	// logged it.
	Decoder azurelog.Options
	// Logger receives malformed records and messages that could not be
	// read (default: slog.Default()).
	Logger *slog.Logger
}

// Plain is a SASL PLAIN user and password.
type Plain struct {
	User, Password string
}

// check validates c.
func (c *Config) check() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("broker %q is not host:port", b))
		}
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("no topics"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("no consumer group"))
	}
	if c.SASL != nil && (c.SASL.User == "" || c.SASL.Password == "") {
		errs = append(errs, errors.New("SASL PLAIN needs a user and a password"))
	}
	if c.MaxPollRecords < 0 {
		errs = append(errs, fmt.Errorf("negative MaxPollRecords %d", c.MaxPollRecords))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka: config: %w", err)
	}
	return nil
}

// EventHubsPort is the port of Event Hubs' Kafka endpoint.
const EventHubsPort = 9093

// EventHubs returns the Config that reads the event hub (the topic) of an
// Azure Event Hubs namespace through its Kafka endpoint, as the consumer
// group: the broker is the namespace's host from the connection string's
// Endpoint on port 9093, over TLS, with SASL PLAIN (user
// "$ConnectionString", password the connection string). An empty topic is
// the connection string's EntityPath (a connection string of one event
// hub).
func EventHubs(connectionString, topic, group string) (Config, error) {
	var endpoint, entity string
	for part := range strings.SplitSeq(connectionString, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "endpoint":
			endpoint = v
		case "entitypath":
			entity = v
		}
	}
	if endpoint == "" {
		return Config{}, errors.New("kafka: event hubs: the connection string has no Endpoint=sb://NAMESPACE.servicebus.windows.net/")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return Config{}, fmt.Errorf("kafka: event hubs: Endpoint %q is not a URL such as sb://NAMESPACE.servicebus.windows.net/", endpoint)
	}
	if topic == "" {
		topic = entity
	}
	if topic == "" {
		return Config{}, errors.New("kafka: event hubs: no event hub: give one, or a connection string with EntityPath")
	}
	host := u.Hostname()
	return Config{
		Brokers: []string{fmt.Sprintf("%s:%d", host, EventHubsPort)},
		Topics:  []string{topic},
		Group:   group,
		SASL:    &Plain{User: "$ConnectionString", Password: connectionString},
		TLS:     &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host},
	}, nil
}
