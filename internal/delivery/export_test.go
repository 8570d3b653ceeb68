package delivery

// HookReadsWaiting returns how many attempts wait for another's read of
// webhook id (test only).
func (e *Engine) HookReadsWaiting(id string) int { return e.hookLoads.Waiting(id) }
