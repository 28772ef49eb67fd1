"""define"""
