// ADAlerting: alert channels and the delivery loop over the ad.alert_deliveries outbox.
