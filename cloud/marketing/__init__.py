"""marketing"""
