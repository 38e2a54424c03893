-- Argo CD health for kubekms.io/KmsGrant: Healthy when its key takes it.
-- A missing or not yet ready key is Progressing (it may be on its way in the
-- same sync); a grant its key's type does not take (InvalidGrant) is
-- Degraded.
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
