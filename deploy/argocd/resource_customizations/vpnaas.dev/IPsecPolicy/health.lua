-- Argo CD health check for vpnaas.dev/IPsecPolicy. Argo CD has no built-in check for this kind; add this script to
-- the argocd-cm ConfigMap as resource.customizations.health.vpnaas.dev_IPsecPolicy (see deploy/argocd/README.md; this
-- folder is laid out as in Argo CD's resource_customizations). The same rules as for every kind of vpnaas.dev:
--   Progressing: not yet reconciled for the current generation, or creating/updating/deleting (also while a site
--                connection still uses it: DeleteBlocked);
--   Healthy:     Ready=True for the current generation (the policy exists in the cloud as the spec says);
--   Degraded:    Stalled=True (the cloud refused the spec or a change while in use (UpdateBlocked), e.g. ah-esp on a strongSwan cloud; bad credentials, ...).
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end
local generation = obj.metadata.generation
if obj.status.observedGeneration ~= nil and generation ~= nil and obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on the latest spec"
  return hs
end
local ready = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.reason .. ": " .. c.message
    return hs
  end
  if c.type == "Ready" then
    ready = c
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
elseif ready.reason == "Down" then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. ready.message
else
  hs.status = "Progressing"
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
