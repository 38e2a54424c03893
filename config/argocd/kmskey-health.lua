-- Argo CD health for kubekms.io/KmsKey: Healthy once the controller has
-- reconciled the current generation and the key is usable; Suspended while
-- it is disabled or pending import; Degraded when it refused the spec, or
-- when a declared replica's primary Region refused to deliver it;
-- Progressing until then.
local hs = { status = "Progressing", message = "Waiting for the controller" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for the controller to observe the latest spec"
  return hs
end
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    if condition.status == "True" then
      -- Disabled, or waiting for its owner to import key material.
      if obj.status.keyState == "Disabled" or obj.status.keyState == "PendingImport" then
        return { status = "Suspended", message = condition.message }
      end
      return { status = "Healthy", message = condition.message }
    elseif condition.status == "False" then
      -- A replica declared here waits for its primary's Region to deliver
      -- it (the endpoint asks at each replica sync): Degraded only once
      -- that Region refused.
      if condition.reason == "AwaitingReplication" and obj.status.replicationRefusal == nil then
        return { status = "Progressing", message = condition.message }
      end
      return { status = "Degraded", message = condition.reason .. ": " .. condition.message }
    end
  end
end
return hs
