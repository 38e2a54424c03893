-- Argo CD health for kubekms.io/KmsAlias: Healthy when it resolves to a key.
-- A missing or not yet ready key is Progressing (it may be on its way in the
-- same sync); a name conflict, an invalid name or a key deleted and pending
-- deletion (KeyPendingDeletion) is Degraded.
local hs = { status = "Progressing", message = "Waiting for the controller" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    if condition.status == "True" then
      return { status = "Healthy", message = condition.message }
    end
    if condition.reason == "KeyNotFound" or condition.reason == "KeyNotReady" then
      return { status = "Progressing", message = condition.message }
    end
    return { status = "Degraded", message = condition.reason .. ": " .. condition.message }
  end
end
return hs
