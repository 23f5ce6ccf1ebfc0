-- name: UpsertService :exec
-- Adds a service of the contract; an existing one keeps its deployed flag.
INSERT INTO services (name) VALUES (@name)
ON CONFLICT (name) DO NOTHING;

-- name: UpsertRoute :exec
-- Adds or updates a route of the contract; an existing one keeps its deployed flag.
INSERT INTO routes (operation_id, service, method, path)
VALUES (@operation_id, @service, @method, @path)
ON CONFLICT (operation_id) DO UPDATE
SET service = EXCLUDED.service, method = EXCLUDED.method, path = EXCLUDED.path
WHERE (routes.service, routes.method, routes.path) IS DISTINCT FROM (EXCLUDED.service, EXCLUDED.method, EXCLUDED.path);

-- name: DeleteRoutesExcept :exec
-- Removes routes the contract no longer has.
DELETE FROM routes WHERE NOT (operation_id = ANY (@operation_ids::text[]));

-- name: DeleteServicesExcept :exec
DELETE FROM services WHERE NOT (name = ANY (@names::text[]));

-- name: ListServices :many
SELECT name, deployed, updated_at FROM services ORDER BY name;

-- name: ListRoutes :many
SELECT operation_id, service, method, path, deployed, updated_at FROM routes ORDER BY path, method;

-- name: SetServiceDeployed :execrows
UPDATE services SET deployed = @deployed, updated_at = now() WHERE name = @name;

-- name: SetRouteDeployed :execrows
-- Finds the route by operation id or by path.
UPDATE routes SET deployed = @deployed, updated_at = now()
WHERE operation_id = @route OR path = @route;

-- name: ListenRegistry :exec
-- Subscribes this connection to the registry's change notifications (see registry_changed()).
LISTEN planoauth_registry;
