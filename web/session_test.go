package web

import (
	"testing"
	"time"
)

func TestSessionsExpire(t *testing.T) {
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	s := newSessions(time.Hour, 3*time.Hour, func() time.Time { return now })
	a := s.create([]byte("hash-a"))
	b := s.create([]byte("hash-b"))
	if a.id == b.id || a.csrf == b.csrf || a.id == a.csrf || len(a.id) < 40 {
		t.Fatalf("sessions share or lack secrets: %+v %+v", a, b)
	}
	now = now.Add(50 * time.Minute)
	if _, ok := s.get(a.id); !ok {
		t.Fatal("a used session ended within the idle time")
	}
	now = now.Add(61 * time.Minute) // b idle for 111 minutes, a for 61
	if _, ok := s.get(b.id); ok {
		t.Error("an idle session is still live")
	}
	if _, ok := s.get(a.id); ok {
		t.Error("a session idle for more than the idle time is still live")
	}
	c := s.create([]byte("hash-c"))
	for range 4 { // used every 50 minutes, it still ends after 3 hours
		now = now.Add(50 * time.Minute)
		s.get(c.id)
	}
	if _, ok := s.get(c.id); ok {
		t.Error("a session outlived its maximum age")
	}
	d := s.create([]byte("hash-d"))
	s.end(d.id)
	if _, ok := s.get(d.id); ok {
		t.Error("an ended session is still live")
	}
	if _, ok := s.get("no such session"); ok {
		t.Error("an unknown session is live")
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                     "/",
		"/alerts/x?y=1":         "/alerts/x?y=1",
		"":                      "/",
		"//evil.example/":       "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
