package sqlite

import "strconv"

// qTouchAll moves last_seen of every modem of a batch in one statement; its
// argument is a JSON array of [modem id, Unix ms] pairs. A flood batch names
// every publishing modem (200 in the load run): one statement instead of one
// qTouch each saves the per-execution cost (database/sql, bind, step, reset)
// of all but one.
const qTouchAll = `UPDATE modems SET last_seen = max(last_seen, json_extract(j.value, '$[1]'))
	FROM json_each(?) j WHERE modems.id = json_extract(j.value, '$[0]')`

// touchAllMin is the number of modems from which qTouchAll is used; below
// it the one-row qTouch is as cheap.
var touchAllMin = 4

// touch writes last_seen of the batch's modems whose newest Received is not
// written yet (heartbeats write it themselves).
func (b *batch) touch() error {
	n := 0
	for _, id := range b.order {
		if st := b.modems[id]; st.lastSeen > st.written {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if n < touchAllMin {
		for _, id := range b.order {
			if st := b.modems[id]; st.lastSeen > st.written {
				if _, err := b.exec(qTouch, st.lastSeen, id); err != nil {
					return err
				}
			}
		}
		return nil
	}
	buf := append(b.buf[:0], '[')
	for _, id := range b.order {
		st := b.modems[id]
		if st.lastSeen <= st.written {
			continue
		}
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, '[')
		buf = strconv.AppendInt(buf, id, 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, st.lastSeen, 10)
		buf = append(buf, ']')
	}
	buf = append(buf, ']')
	b.buf = buf
	_, err := b.exec(qTouchAll, string(buf))
	return err
}
