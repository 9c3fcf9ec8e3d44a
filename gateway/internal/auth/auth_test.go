package auth

import (
	"errors"
	"testing"
)

func TestHashCheck(t *testing.T) {
	for _, iter := range []int{ModemIterations, 1000} {
		h, err := Hash("s3cret-password", iter)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check("s3cret-password", h); err != nil {
			t.Fatalf("iter %d: good secret refused: %v", iter, err)
		}
		if err := Check("s3cret-passwore", h); !errors.Is(err, ErrMismatch) {
			t.Fatalf("iter %d: wrong secret: got %v", iter, err)
		}
		h2, _ := Hash("s3cret-password", iter)
		if h2 == h {
			t.Fatal("two hashes of one secret are equal: salt not random")
		}
	}
}

func TestCheckBadFormat(t *testing.T) {
	for _, enc := range []string{"", "plain", "pbkdf2-sha256$x$AA$AA", "pbkdf2-sha256$0$AA$AA", "md5$1$AA$AA", "pbkdf2-sha256$10$!!$AA", "pbkdf2-sha256$1000001$AA$AA"} {
		if err := Check("x", enc); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: got %v, want ErrFormat", enc, err)
		}
	}
}

func TestTokens(t *testing.T) {
	tok, h, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if TokenHash(tok) != h || len(tok) < 40 {
		t.Fatalf("token %q hash %q", tok, h)
	}
	p, _ := RandomPassword(20)
	if len(p) != 20 {
		t.Fatal(p)
	}
}

func FuzzCheck(f *testing.F) {
	h, _ := Hash("pw", 1)
	f.Add("pw", h)
	f.Add("x", "pbkdf2-sha256$1$$")
	f.Fuzz(func(t *testing.T, secret, enc string) {
		_ = Check(secret, enc)
	})
}
