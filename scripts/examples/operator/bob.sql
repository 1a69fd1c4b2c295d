SELECT ad.confirm_anomaly(anomaly_id) FROM ad.anomaly_details WHERE status = 'false_positive';
