// Package fraud holds the compute fraud detections a CSP partner receives
// (seed 003: anomalous compute usage, Azure Machine Learning usage), from
// the Activity Log's compute writes:
//
//   - VM_AnomalousDeployment: virtual machines (scale-set instances count)
//     deployed in a subscription in one UTC day, at least MinVMs and Ratio
//     times its busiest day of the last HistoryDays;
//   - ARM_AnomalousResourceConsumption: the same day's vCPUs, weighted up
//     for GPU sizes, sizes of HighCoreMin vCPUs or more, and regions new to
//     the subscription, at least MinScore and Ratio times the busiest day;
//   - AzureMachineLearning_AnomalousDeployment,
//     AzureBatch_AnomalousDeployment and
//     AzureContainerInstances_AnomalousDeployment: weighted vCPUs of Machine
//     Learning compute, Batch pools or container groups deployed in a day,
//     at least MinCores where the subscription had not used the service in
//     the history, or Ratio times its busiest day;
//   - ARM_SuspiciousComputeCreation: within Window, MinExpensive expensive
//     units (GPU or high-core) in MinRegions regions, with no history needed.
//
// What was deployed is read from the record's request or response body
// (size, count or capacity, region; ParseDeployment), vCPUs and GPUs from
// the size's name (ParseSize). Only the final, successful record of a write
// counts; a write of a resource already known counts only what it adds (a
// scale-out), so updates of tags or extensions count nothing. A
// subscription's first Learning (7 days) is only learnt, except for
// ARM_SuspiciousComputeCreation.
//
// The detector (NameCompute) is keyed by subscription and keeps at most
// HistoryDays+1 daily totals per service (units, vCPUs, weighted score,
// sizes and regions listed up to 8 and 16), the regions it used (64), the
// last size of up to 4096 resources and the open burst window; the day's
// evidence is dropped when the day closes. A candidate is emitted when a
// day crosses a threshold, and a summary of the rest of the day when it
// closes (same fingerprint: subscription, day, type). Details: subscription,
// service, day, units, vcpus, gpuUnits, score, sizes, regions, newRegions,
// historyDays, activeDays, usualUnits, usualScore (the busiest day),
// medianScore (over HistoryDays, idle days counting zero), ratio; the
// burst: units, regions, regionCount, sizes, window, burstStart.
package fraud
