package evadts

// Block allocators for the parser. A large audit yields tens of thousands of
// small objects (one Product, PaidVends, FreeVends … per selection); carving
// them from shared blocks instead of allocating each one (and regrowing
// every list by doubling) cuts allocations and GC work several-fold. Blocks
// start small and double, so parsing one small audit stays cheap. The price:
// a retained Report keeps the blocks it shares with the other reports of the
// same Parse call alive.

const (
	firstBlock = 4   // elements in the first block of each allocator
	maxBlock   = 512 // elements per block once grown
)

// nextBlock returns the size of the block that follows one of size prev and
// holds at least need elements.
func nextBlock(prev, need int) int {
	n := min(max(2*prev, firstBlock), maxBlock)
	return max(n, need)
}

// slab hands out single objects. (The allocators advance an index rather
// than reslicing their block: storing a moved slice pointer into the parser,
// a heap object, would cost a GC write barrier per object.)
type slab[T any] struct {
	buf  []T // current block; buf[:used] handed out
	used int
}

// one returns a pointer to a zero T.
func (s *slab[T]) one() *T {
	if s.used == len(s.buf) {
		s.buf = make([]T, nextBlock(len(s.buf), 1))
		s.used = 0
	}
	s.used++
	return &s.buf[s.used-1]
}

// bump hands out slices that grow one element at a time. The slice handed
// out last grows in place; any other one is moved to the free end of the
// block first (lists of one kind are nearly always built contiguously, so
// that is rare). Slices have cap == len, so a caller appending to one later
// reallocates instead of overwriting a neighbour.
type bump[T any] struct {
	buf  []T // current block; buf[:used] handed out, the rest zero
	used int
}

// add extends *s by one zero element and returns a pointer to it.
func (b *bump[T]) add(s *[]T) *T {
	old := *s
	n := len(old)
	if n > 0 && b.used >= n && b.used < len(b.buf) && &b.buf[b.used-1] == &old[n-1] {
		b.used++
		*s = b.buf[b.used-n-1 : b.used : b.used]
		return &b.buf[b.used-1]
	}
	if len(b.buf)-b.used < n+1 {
		b.buf = make([]T, nextBlock(len(b.buf), 2*(n+1)))
		b.used = 0
	}
	d := b.buf[b.used : b.used+n+1 : b.used+n+1]
	copy(d, old)
	b.used += n + 1
	*s = d
	return &d[n]
}

// strs hands out fixed-length string slices.
type strs struct {
	buf  []string
	used int
}

// take returns a zeroed slice of n strings (len == cap == n), n > 0.
func (a *strs) take(n int) []string {
	if len(a.buf)-a.used < n {
		a.buf = make([]string, nextBlock(len(a.buf)*2, n)) // strings are small: grow faster
		a.used = 0
	}
	a.used += n
	return a.buf[a.used-n : a.used : a.used]
}
