package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"vendgate/gateway/internal/store"
)

// Machine groups are an extension: the spec names them (operators see the
// machines of "назначенные оператору группы", locations carry a group_id) but
// documents no routes to manage them. Every /v2/groups route is for admins.

const msgGroupNotFound = "Group not found"

// maxGroupMembers bounds vm_ids and user_ids of one request.
const maxGroupMembers = 10000

// groupJSON is a group with its members.
type groupJSON struct {
	ID      int64   `json:"id"`
	Name    string  `json:"name"`
	VMIDs   []int64 `json:"vm_ids"`
	UserIDs []int64 `json:"user_ids"`
}

func (s *server) groupJSON(r *http.Request, a store.Access, g store.Group) (groupJSON, error) {
	vms, err := a.GroupMachines(r.Context(), g.ID)
	if err != nil {
		return groupJSON{}, err
	}
	users, err := a.GroupUsers(r.Context(), g.ID)
	if err != nil {
		return groupJSON{}, err
	}
	if vms == nil {
		vms = []int64{}
	}
	if users == nil {
		users = []int64{}
	}
	return groupJSON{ID: g.ID, Name: g.Name, VMIDs: vms, UserIDs: users}, nil
}

// groupAdmin is the common start of the group routes: the store, and a 403
// for anyone but an admin.
func (s *server) groupAdmin(sess *session) (store.Access, error) {
	a, err := s.accessStore()
	if err != nil {
		return nil, err
	}
	if err := requireRole(sess, RoleAdmin); err != nil {
		return nil, err
	}
	return a, nil
}

// groupFor loads a group of the caller's company; another company's is a 404.
func (s *server) groupFor(r *http.Request, sess *session, a store.Access) (store.Group, error) {
	return ownedByPath(r, sess, msgGroupNotFound, a.GetGroup, groupCompany)
}

// idList reads a list of positive ids: a JSON array of integers (or of strings
// holding them), or "1,2,3" in a query or form. null and "" are the empty
// list. set is false when the field is absent or invalid.
func idList(v *validator, field string) (ids []int64, set bool) {
	pv, ok := v.p.get(field)
	if !ok {
		return nil, false
	}
	var items []string
	if pv.isJSON() {
		if isJSONNull(pv.raw) {
			return []int64{}, true
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(pv.raw, &raw); err != nil {
			v.add(field, "The "+attr(field)+" must be an array.")
			return nil, false
		}
		for _, x := range raw {
			var n json.Number
			var s string
			switch {
			case json.Unmarshal(x, &n) == nil:
				items = append(items, n.String())
			case json.Unmarshal(x, &s) == nil:
				items = append(items, s)
			default:
				items = append(items, "\x00") // not an integer
			}
		}
	} else if strings.TrimSpace(pv.text) != "" {
		items = strings.Split(pv.text, ",")
	}
	if len(items) > maxGroupMembers {
		v.add(field, "The "+attr(field)+" may not have more than "+strconv.Itoa(maxGroupMembers)+" items.")
		return nil, false
	}
	ids = make([]int64, 0, len(items))
	for i, it := range items {
		n, err := strconv.ParseInt(strings.TrimSpace(it), 10, 64)
		if err != nil || n <= 0 {
			key := field + "." + strconv.Itoa(i)
			v.add(key, "The "+key+" must be a positive integer.")
			continue
		}
		ids = append(ids, n)
	}
	if len(ids) != len(items) {
		return nil, false
	}
	return ids, true
}

// checkMembers adds a 422 for every id that is not a machine (users: a user)
// of the caller's company; another company's id is "invalid", exactly like a
// missing one, so ids of other tenants are not revealed.
func (s *server) checkMembers(r *http.Request, sess *session, v *validator, field string, ids []int64, users bool) error {
	ctx := r.Context()
	for i, id := range ids {
		var company int64
		var err error
		if users {
			var u store.User
			u, err = s.cfg.Store.GetUser(ctx, id)
			company = u.CompanyID
		} else {
			var m store.Machine
			m, err = s.cfg.Store.GetMachine(ctx, id)
			company = m.CompanyID
		}
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && company != sess.User.CompanyID):
			key := field + "." + strconv.Itoa(i)
			v.add(key, "The selected "+key+" is invalid.")
		case err != nil:
			return err
		}
	}
	return nil
}

// groupInput is a validated group body.
type groupInput struct {
	name           optStr
	vms, users     []int64
	setVMs, setUsr bool
}

func (s *server) readGroup(w http.ResponseWriter, r *http.Request, sess *session, create bool) (groupInput, error) {
	p, err := readParams(w, r)
	if err != nil {
		return groupInput{}, err
	}
	v := newValidator(p)
	var in groupInput
	in.name = v.str("name")
	if in.name.Set {
		in.name.V = strings.TrimSpace(in.name.V)
	}
	if create || in.name.Set {
		v.required("name", in.name.Set && in.name.V != "", in.name.Null)
	}
	v.maxLen("name", in.name, maxNameLen)
	in.vms, in.setVMs = idList(v, "vm_ids")
	in.users, in.setUsr = idList(v, "user_ids")
	if in.setVMs {
		if err := s.checkMembers(r, sess, v, "vm_ids", in.vms, false); err != nil {
			return groupInput{}, err
		}
	}
	if in.setUsr {
		if err := s.checkMembers(r, sess, v, "user_ids", in.users, true); err != nil {
			return groupInput{}, err
		}
	}
	return in, v.err()
}

// groupNameTaken is the 422 of a duplicate group name.
func groupNameTaken(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return errField("name", "The name has already been taken.")
	}
	return err
}

// setMembers writes the memberships the input gives. A member that vanished
// or moved since checkMembers makes the store refuse: a 422 on the field.
func setMembers(r *http.Request, a store.Access, id int64, in groupInput) error {
	ctx := r.Context()
	if in.setVMs {
		if err := a.SetGroupMachines(ctx, id, in.vms); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errField("vm_ids", "The selected vm ids is invalid.")
			}
			return err
		}
	}
	if in.setUsr {
		if err := a.SetGroupUsers(ctx, id, in.users); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errField("user_ids", "The selected user ids is invalid.")
			}
			return err
		}
	}
	return nil
}

// handleGroupList is GET /v2/groups: the company's groups with their members.
func (s *server) handleGroupList(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.groupAdmin(sess)
	if err != nil {
		return err
	}
	gs, err := a.ListGroups(r.Context(), sess.User.CompanyID)
	if err != nil {
		return err
	}
	out := make([]groupJSON, 0, len(gs))
	for _, g := range gs {
		gj, err := s.groupJSON(r, a, g)
		if err != nil {
			return err
		}
		out = append(out, gj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleGroupGet is GET /v2/groups/{id}.
func (s *server) handleGroupGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.groupAdmin(sess)
	if err != nil {
		return err
	}
	g, err := s.groupFor(r, sess, a)
	if err != nil {
		return err
	}
	gj, err := s.groupJSON(r, a, g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, gj)
	return nil
}

// handleGroupCreate is POST /v2/groups {name, vm_ids?, user_ids?} → 201
// {"res":true,"resource":{"id":N}}.
func (s *server) handleGroupCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.groupAdmin(sess)
	if err != nil {
		return err
	}
	in, err := s.readGroup(w, r, sess, true)
	if err != nil {
		return err
	}
	g := store.Group{CompanyID: sess.User.CompanyID, Name: in.name.V, CreatedAt: s.cfg.Now()}
	if err := a.CreateGroup(r.Context(), &g); err != nil {
		return groupNameTaken(err)
	}
	if err := setMembers(r, a, g.ID, in); err != nil {
		// Do not leave a half-made group behind; the request can be repeated.
		if derr := a.DeleteGroup(r.Context(), g.ID); derr != nil {
			s.log.Error("api: undo group create", "group", g.ID, "err", derr)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"res": true, "resource": map[string]int64{"id": g.ID}})
	return nil
}

// handleGroupUpdate is PUT /v2/groups/{id}: name, vm_ids and user_ids are each
// optional; a list given replaces the group's members.
func (s *server) handleGroupUpdate(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.groupAdmin(sess)
	if err != nil {
		return err
	}
	g, err := s.groupFor(r, sess, a)
	if err != nil {
		return err
	}
	in, err := s.readGroup(w, r, sess, false)
	if err != nil {
		return err
	}
	if in.name.Set && in.name.V != g.Name {
		if err := a.RenameGroup(r.Context(), g.ID, in.name.V); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNotFound(msgGroupNotFound)
			}
			return groupNameTaken(err)
		}
	}
	if err := setMembers(r, a, g.ID, in); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}

// handleGroupDelete is DELETE /v2/groups/{id}: its operators lose sight of its
// machines at once.
func (s *server) handleGroupDelete(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.groupAdmin(sess)
	if err != nil {
		return err
	}
	g, err := s.groupFor(r, sess, a)
	if err != nil {
		return err
	}
	if err := a.DeleteGroup(r.Context(), g.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound(msgGroupNotFound)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}
