"""The privacy notice and consent (a middleware), 同意 / 不同意 / 隐私 / 删除我的信息, and the retention purge."""
