"""standsync"""
