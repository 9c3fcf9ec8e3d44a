package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "testdata", "evadts", name))
	if err != nil {
		t.Skipf("shared test data not available: %v", err)
	}
	return b
}

func TestCheckAudit(t *testing.T) {
	good := sample(t, "mdisibio__dex-parse__test.dex")
	if why := checkAudit(good); why != "" {
		t.Fatalf("a valid audit refused: %s", why)
	}
	// A wrong check value: change one digit of a counter.
	bad := []byte(strings.Replace(string(good), "PA1*", "PA1*9", 1))
	if why := checkAudit(bad); why == "" {
		t.Fatal("an audit with a wrong check value accepted")
	}
	// Cut short.
	if why := checkAudit(good[:len(good)/2]); why == "" {
		t.Fatal("a truncated audit accepted")
	}
	if why := checkAudit([]byte("hello")); !strings.Contains(why, "not an EVA-DTS audit") {
		t.Fatalf("garbage: %q", why)
	}
}
